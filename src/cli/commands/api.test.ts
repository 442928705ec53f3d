// `spindle api` against a real Workload API on a temp socket (fake identity source).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startWorkloadApi, type WorkloadApiHarness } from "../../../test/support/workload-api-harness.js";
import { FakeIdentitySource, TEST_FED_TD, createFixedAttestor } from "../../../test/support/fake-identity-source.js";
import { signRawTestJws } from "../../../test/support/spiffe/index.js";
import { runCli } from "../program.js";

const ID = "spiffe://example.org/cli";

async function cli(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s), env });
  return { code, out, err };
}

describe("spindle api", () => {
  let source: FakeIdentitySource;
  let api: WorkloadApiHarness;
  let dir: string;
  let sock: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "spindle-api-cli-"));
    source = new FakeIdentitySource();
    source.grant("test:cli", ID, { hint: "cli", federatesWith: [TEST_FED_TD] });
    api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:cli"]) });
    sock = ["--socket-path", api.socketPath];
  });
  after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fetch x509 prints the SVIDs (text or JSON) and never the private key", async () => {
    const text = await cli({}, "api", "fetch", "x509", ...sock);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /SPIFFE ID: +spiffe:\/\/example\.org\/cli {2}\(default\)/);
    assert.match(text.out, /Hint: +cli/);
    assert.match(text.out, /Federated bundle: spiffe:\/\/partner\.test/);
    const json = await cli({}, "api", "fetch", "x509", ...sock, "--output", "json");
    assert.equal(json.code, 0, json.err);
    const doc = JSON.parse(json.out) as { svids: { spiffe_id: string; x509_svid_pem: string }[] };
    assert.equal(doc.svids[0]!.spiffe_id, ID);
    assert.equal(doc.svids[0]!.x509_svid_pem.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.doesNotMatch(text.out + json.out, /PRIVATE KEY/);
  });

  it("honours SPIFFE_ENDPOINT_SOCKET and reports a bad one", async () => {
    const ok = await cli({ SPIFFE_ENDPOINT_SOCKET: `unix://${api.socketPath}` }, "api", "fetch", "x509");
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /spiffe:\/\/example\.org\/cli/);
    const bad = await cli({ SPIFFE_ENDPOINT_SOCKET: "http://127.0.0.1:1" }, "api", "fetch", "x509");
    assert.equal(bad.code, 1);
    assert.match(bad.err, /ERR_WORKLOAD_API_ENDPOINT/);
    const down = await cli({}, "api", "fetch", "x509", "--socket-path", join(dir, "nothing.sock"));
    assert.equal(down.code, 1);
    assert.match(down.err, /^error \[ERR_WORKLOAD_API_CALL\]: FetchX509SVID failed: UNAVAILABLE.*\n$/);
  });

  it("fetch x509 --write writes SPIRE's file names: svid.N.pem, svid.N.key (0600), bundle.N.pem, federated_bundle.N.M.pem", async () => {
    // Two identities (the default first) and one federated bundle.
    const two = new FakeIdentitySource();
    two.grant("test:cli", ID, { hint: "cli", federatesWith: [TEST_FED_TD] });
    two.grant("test:cli", `${ID}-2`, { federatesWith: [TEST_FED_TD] });
    const api2 = await startWorkloadApi({ source: two, attestor: createFixedAttestor(["test:cli"]) });
    try {
      const out = join(dir, "out");
      const r = await cli({}, "api", "fetch", "x509", "--socket-path", api2.socketPath, "--write", out);
      assert.equal(r.code, 0, r.err);
      const golden = ["bundle.0.pem", "bundle.1.pem", "federated_bundle.0.0.pem", "federated_bundle.1.0.pem", "svid.0.key", "svid.0.pem", "svid.1.key", "svid.1.pem"];
      assert.deepEqual(readdirSync(out).sort(), golden);
      assert.deepEqual(r.out.match(/^Wrote .*$/gm)?.map((l) => l.slice(l.lastIndexOf("/") + 1)).sort(), golden);
      const ids = [0, 1].map((n) => new X509Certificate(readFileSync(join(out, `svid.${n}.pem`))).subjectAltName);
      assert.deepEqual(ids, [`URI:${ID}`, `URI:${ID}-2`], "svid.0 is the default identity");
      for (const n of [0, 1]) {
        const keyPath = join(out, `svid.${n}.key`);
        assert.equal(statSync(keyPath).mode & 0o777, 0o600);
        const leaf = new X509Certificate(readFileSync(join(out, `svid.${n}.pem`)));
        assert.ok(createPublicKey(createPrivateKey(readFileSync(keyPath))).equals(leaf.publicKey));
        assert.equal(new X509Certificate(readFileSync(join(out, `bundle.${n}.pem`))).fingerprint256, new X509Certificate(two.trust.root.der).fingerprint256);
        assert.notEqual(new X509Certificate(readFileSync(join(out, `federated_bundle.${n}.0.pem`))).fingerprint256, new X509Certificate(two.trust.root.der).fingerprint256);
      }
    } finally {
      await api2.close();
    }
  });

  it("fetch jwt and validate jwt, with the agent's refusals as exit 1", async () => {
    const f = await cli({}, "api", "fetch", "jwt", ...sock, "--audience", "aud-1", "--output", "json");
    assert.equal(f.code, 0, f.err);
    const token = (JSON.parse(f.out) as { svids: { spiffe_id: string; svid: string }[] }).svids[0]!;
    assert.equal(token.spiffe_id, ID);
    const v = await cli({}, "api", "validate", "jwt", ...sock, "--audience", "aud-1", "--svid", token.svid);
    assert.equal(v.code, 0, v.err);
    assert.match(v.out, /SVID is valid\.\nSPIFFE ID: spiffe:\/\/example\.org\/cli/);
    const wrong = await cli({}, "api", "validate", "jwt", ...sock, "--audience", "aud-2", "--svid", token.svid);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /INVALID_ARGUMENT: JWT-SVID invalid: aud/);
    // A correctly signed token naming `aud` twice: refused by the CLI itself, before any agent.
    const [h, p] = token.svid.split(".").map((part) => Buffer.from(part, "base64url").toString("utf8"));
    const twice = signRawTestJws(source.trust.jwt, h!, p!.replace(/^\{/, '{"aud":"someone-else",'));
    const dup = await cli({}, "api", "validate", "jwt", ...sock, "--audience", "aud-1", "--svid", twice);
    assert.equal(dup.code, 1);
    assert.match(dup.err, /^error \[ERR_JWT_MALFORMED\]: JWT-SVID invalid: the payload has the member "aud" more than once/);
    const denied = await cli({}, "api", "fetch", "jwt", ...sock, "--audience", "a", "--spiffe-id", "spiffe://example.org/not-mine");
    assert.equal(denied.code, 1);
    assert.match(denied.err, /PERMISSION_DENIED/);
  });

  it("fetch bundles lists X.509 and JWT authorities per trust domain", async () => {
    const r = await cli({}, "api", "fetch", "bundles", ...sock, "--output", "json");
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { x509_bundles: Record<string, string[]>; jwt_bundles: Record<string, { keys: { kid: string }[] }> };
    assert.deepEqual(Object.keys(doc.x509_bundles).sort(), ["spiffe://example.org", "spiffe://partner.test"]);
    assert.equal(doc.jwt_bundles["spiffe://example.org"]!.keys[0]!.kid, source.trust.jwt.kid);
  });

  it("watch prints each update (here: until --count)", async () => {
    const pending = cli({}, "api", "watch", ...sock, "--count", "2", "--output", "json");
    await new Promise((r) => setTimeout(r, 300));
    source.rotate(ID);
    const r = await pending;
    assert.equal(r.code, 0, r.err);
    const updates = r.out.trim().split("\n").map((l) => JSON.parse(l) as { update: number; svids: { x509_svid_pem: string }[] });
    assert.deepEqual(updates.map((u) => u.update), [1, 2]);
    assert.notEqual(updates[0]!.svids[0]!.x509_svid_pem, updates[1]!.svids[0]!.x509_svid_pem);
  });

  it("watch retries while the agent answers Unavailable, and exits 1 on PermissionDenied", async () => {
    const notReady = new FakeIdentitySource({ ready: false });
    notReady.grant("test:late", "spiffe://example.org/late");
    const late = await startWorkloadApi({ source: notReady, attestor: createFixedAttestor(["test:late"]) });
    try {
      const pending = cli({}, "api", "watch", "--socket-path", late.socketPath, "--count", "1");
      await new Promise((r) => setTimeout(r, 200));
      notReady.markReady();
      const r = await pending;
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /UNAVAILABLE.*retrying in/);
      assert.match(r.out, /spiffe:\/\/example\.org\/late/);
      const denied = cli({}, "api", "watch", "--socket-path", late.socketPath);
      await new Promise((r) => setTimeout(r, 200));
      notReady.revoke("test:late");
      const d = await denied;
      assert.equal(d.code, 1);
      assert.match(d.err, /PERMISSION_DENIED/);
    } finally {
      await late.close();
    }
  });

  it("watch stops cleanly on SIGINT (real process)", async () => {
    const bin = fileURLToPath(new URL("../../../bin/spindle.js", import.meta.url));
    const child = spawn(process.execPath, [bin, "api", "watch", ...sock], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no update printed; stderr: ${err}`)), 60_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("SPIFFE ID:")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    assert.equal(code, 0, err);
    assert.match(out, /--- update 1 at/);
  });
});
