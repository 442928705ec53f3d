// End to end: `spindle server run` as a real process, entries through the CLI, SVIDs minted
// through the admin API and verified with src/spiffe against `spindle bundle show`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdminClient } from "../../../src/ca/admin/index.js";
import { pemToDers } from "../../../src/common/pem.js";
import { createBundleSet, decodeSpiffeBundle, parseTrustDomain, validateJwtSvid, validateX509Svid } from "../../../src/spiffe/index.js";
import { runCli, startServerProcess } from "./cli-process.js";
import { freePort } from "./ports.js";

export function e2eSuite(name: string, datastoreUrl: () => Promise<string | undefined>): void {
  test(`${name}: server run, CLI entries, minted SVIDs verify against the bundle, clean SIGTERM`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "spindle-e2e-"));
    const sock = join(dir, "private", "admin.sock");
    const config = join(dir, "server.yaml");
    const url = await datastoreUrl();
    writeFileSync(
      config,
      [
        "trust_domain: example.org",
        `data_dir: ${join(dir, "data")}`,
        `health_address: 127.0.0.1:${await freePort()}`,
        "key_manager: disk",
        "log_level: info",
        ...(url ? [`datastore: ${url}`] : []),
      ].join("\n") + "\n",
    );
    const server = await startServerProcess(["--config", config, "--admin-socket", sock, "--bind", "127.0.0.1:0"]);
    try {
      const A = ["--admin-socket", sock];
      const created = await runCli(["entry", "create", ...A, "--output", "json", "--spiffe-id", "spiffe://example.org/web", "--parent-id", "spiffe://example.org/spindle/agent/x509pop/node1", "--selector", "unix:uid:1000", "--selector", "k8s:ns:web", "--x509-ttl", "30m", "--dns", "web.local"]);
      assert.equal(created.status, 0, created.stderr);
      const entry = JSON.parse(created.stdout) as { id: string; spiffeId: string; x509SvidTtl: number; selectors: unknown[] };
      assert.equal(entry.spiffeId, "spiffe://example.org/web");
      assert.equal(entry.x509SvidTtl, 1800);
      assert.equal(entry.selectors.length, 2);

      const dup = await runCli(["entry", "create", ...A, "--spiffe-id", "spiffe://example.org/web", "--parent-id", "spiffe://example.org/spindle/agent/x509pop/node1", "--selector", "k8s:ns:web", "--selector", "unix:uid:1000"]);
      assert.equal(dup.status, 1);
      assert.match(dup.stderr, new RegExp(`^error \\[ERR_ALREADY_EXISTS\\]: .*${entry.id}`));
      const bad = await runCli(["entry", "create", ...A, "--spiffe-id", "spiffe://other.org/x", "--parent-id", "spiffe://example.org/a", "--selector", "unix:uid:1", "--x509-ttl", "9h"]);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /^error \[ERR_ENTRY_INVALID\]: .*spiffeId: .*outside the trust domain.*x509SvidTtl: TTL 32400s is above the maximum of 14400s/);

      const shown = await runCli(["entry", "show", ...A, "--selector", "k8s:ns:web"]);
      assert.equal(shown.status, 0, shown.stderr);
      assert.match(shown.stdout, /^Found 1 entry/);
      assert.match(shown.stdout, new RegExp(`Entry ID +: ${entry.id}`));

      const bundleOut = await runCli(["bundle", "show", ...A, "--format", "spiffe"]);
      assert.equal(bundleOut.status, 0, bundleOut.stderr);
      const bundle = decodeSpiffeBundle(parseTrustDomain("example.org"), bundleOut.stdout);
      const pemOut = await runCli(["bundle", "show", ...A]);
      assert.deepEqual(pemToDers(pemOut.stdout, "CERTIFICATE"), bundle.x509Authorities.map((d) => Buffer.from(d)), "PEM and SPIFFE formats agree");
      const bundles = createBundleSet([bundle]);

      const client = createAdminClient({ socketPath: sock });
      const x = await client.mintX509SVID({ spiffeId: "spiffe://example.org/web", dnsNames: ["web.local"] });
      const info = validateX509Svid(x.certChain, bundles, { now: Date.now() });
      assert.equal(info.spiffeId.toString(), "spiffe://example.org/web");
      assert.deepEqual(info.leaf.dnsNames, ["web.local"]);
      assert.equal(info.leaf.serialNumber.toLowerCase().replace(/^0+/, ""), x.serial.toLowerCase().replace(/^0+/, ""));
      const j = await client.mintJWTSVID({ spiffeId: "spiffe://example.org/web", audience: ["billing"] });
      const jinfo = await validateJwtSvid(j.token, bundles, { audience: "billing", now: Date.now() });
      assert.equal(jinfo.spiffeId.toString(), "spiffe://example.org/web");
      await assert.rejects(validateJwtSvid(j.token, bundles, { audience: "other", now: Date.now() }), /audience|aud/i);

      const written = join(dir, "svid");
      const mint = await runCli(["x509", "mint", ...A, "--spiffe-id", "spiffe://example.org/cli", "--write", written]);
      assert.equal(mint.status, 0, mint.stderr);
      assert.equal(statSync(join(written, "svid.key")).mode & 0o777, 0o600);
      const cliInfo = validateX509Svid(pemToDers(readFileSync(join(written, "svid.pem"), "utf8"), "CERTIFICATE"), bundles, { now: Date.now() });
      assert.equal(cliInfo.spiffeId.toString(), "spiffe://example.org/cli");

      const token = await runCli(["token", "generate", ...A, "--output", "json"]);
      assert.equal(token.status, 0, token.stderr);
      assert.match((JSON.parse(token.stdout) as { token: string }).token, /^[A-Za-z0-9_-]{32}$/);
      const health = await runCli(["healthcheck", ...A]);
      assert.equal(health.status, 0, health.stderr);
      assert.match(health.stdout, /is ready/);

      const audits = server.output().split("\n").filter((l) => l.includes('"audit":"svid_issued"'));
      assert.equal(audits.length, 3, "one audit line per issuance");
      assert.match(audits[0]!, new RegExp(`"entryId":"".*"spiffeId":"spiffe://example.org/web".*"requester":"admin-socket uid=\\d+ pid=\\d+".*"serial":"${x.serial}"`));
    } finally {
      const code = await server.stop("SIGTERM");
      assert.equal(code, 0, `clean shutdown exits 0:\n${server.output()}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
