// `spindle federation *` through runCli (in-process) against an in-process server over its admin
// socket: create/list/show/refresh/update/delete with --output json, bad input (one clear error,
// nothing stored), --data lists (all or nothing), config relationships (shown as config, not
// writable through the API), delete refused while entries federate, restart keeps everything.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/program.js";
import { createAdminClient } from "../../src/ca/admin/index.js";
import { validateRelationship } from "../../src/ca/federation/index.js";
import { endpointSvid, json, remoteDomain, startEndpoint, type TestEndpoint } from "../support/federation-endpoint.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

const TD = "b.test";
const ID = "spiffe://b.test/spindle/server";
const dir = mkdtempSync(join(tmpdir(), "spindle-fedcli-"));
const remote = remoteDomain(TD);
const bundleFile = join(dir, "b.json");
writeFileSync(bundleFile, remote.doc(1));
const pemFile = join(dir, "b.pem");
writeFileSync(pemFile, remote.ca.pem);
const dsPath = join(dir, "ds.sqlite3");
let ep: TestEndpoint;
let srv: TestServer;

before(async () => {
  const svid = endpointSvid(remote, ID);
  ep = await startEndpoint(svid.chainPem, svid.privateKeyPem, json(remote.doc(4)));
  srv = await startTestServer({ datastore: { kind: "sqlite", path: dsPath } });
});
after(async () => {
  await srv?.close();
  await ep?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(["federation", ...argv, "--admin-socket", srv.options.adminSocket], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
  return { code, out, err };
}

async function nothingStored(): Promise<void> {
  const l = await cli("list", "--output", "json");
  assert.deepEqual(JSON.parse(l.out), { relationships: [] });
  const c = createAdminClient({ socketPath: srv.options.adminSocket });
  assert.deepEqual((await c.listFederatedBundles({})).bundles, [], "no bundle stored either");
}

async function refusedOnce(argv: string[], code: string, pattern: RegExp): Promise<void> {
  const r = await cli(...argv);
  assert.equal(r.code, 1, r.out + r.err);
  assert.equal(r.out, "");
  assert.equal(r.err.trim().split("\n").length, 1, `one error line: ${r.err}`);
  assert.match(r.err, new RegExp(`^error \\[${code}\\]: `));
  assert.match(r.err, pattern);
  await nothingStored();
}

const spiffeFlags = ["--trust-domain", TD, "--bundle-endpoint-profile", "https_spiffe", "--endpoint-spiffe-id", ID, "--trust-domain-bundle-path", bundleFile];

test("bad input: one clear error each, nothing stored", async () => {
  await refusedOnce(["create", ...spiffeFlags, "--bundle-endpoint-url", "not-a-url"], "ERR_FEDERATION_RELATIONSHIP_INVALID", /bundle_endpoint_url: "not-a-url" is not a URL/);
  await refusedOnce(["create", ...spiffeFlags, "--bundle-endpoint-url", "http://127.0.0.1/"], "ERR_FEDERATION_RELATIONSHIP_INVALID", /must use https/);
  await refusedOnce(["create", "--trust-domain", TD, "--bundle-endpoint-url", ep.url, "--bundle-endpoint-profile", "https_tls"], "ERR_FEDERATION_RELATIONSHIP_INVALID", /bundle_endpoint_profile: must be "https_web" or "https_spiffe", got "https_tls"/);
  await refusedOnce(["create", "--trust-domain", TD, "--bundle-endpoint-url", ep.url, "--bundle-endpoint-profile", "https_spiffe", "--trust-domain-bundle-path", bundleFile], "ERR_FEDERATION_RELATIONSHIP_INVALID", /endpoint_spiffe_id: is required for the https_spiffe profile/);
  await refusedOnce(["create", ...spiffeFlags.slice(0, -1), pemFile, "--bundle-endpoint-url", ep.url], "ERR_FEDERATION_RELATIONSHIP_INVALID", /not a SPIFFE bundle \(format spiffe\)/);
  await refusedOnce(["create", ...spiffeFlags.slice(0, -2), "--bundle-endpoint-url", ep.url], "ERR_FEDERATION_RELATIONSHIP_INVALID", /self-serving and no bundle of "b\.test" is stored/);
  await refusedOnce(["create", "--bundle-endpoint-url", ep.url, "--bundle-endpoint-profile", "https_web"], "ERR_FEDERATION_RELATIONSHIP_INVALID", /trust_domain: /);
  await refusedOnce(["create", "--trust-domain", TD, "--bundle-endpoint-url", ep.url, "--bundle-endpoint-profile", "https_web", "--endpoint-spiffe-id", ID], "ERR_FEDERATION_RELATIONSHIP_INVALID", /endpoint_spiffe_id: applies to the https_spiffe profile only/);
  await refusedOnce(["create", ...spiffeFlags, "--bundle-endpoint-url", ep.url, "--data", bundleFile], "ERR_INVALID_ARGUMENT", /--data cannot be combined/);
  // A --data list with one bad item creates nothing.
  const data = join(dir, "data.json");
  writeFileSync(data, JSON.stringify([
    { trust_domain: TD, bundle_endpoint_url: ep.url, bundle_endpoint_profile: "https_spiffe", endpoint_spiffe_id: ID, trust_domain_bundle_path: bundleFile },
    { trust_domain: "c.test", bundle_endpoint_url: "https://c.example/", bundle_endpoint_profile: "https_web", endpoint_spiffe_id: "spiffe://c.test/x" },
  ]));
  await refusedOnce(["create", "--data", data], "ERR_FEDERATION_RELATIONSHIP_INVALID", /"c\.test" is invalid: endpoint_spiffe_id: applies to the https_spiffe profile only/);
  writeFileSync(data, JSON.stringify([{ trust_domain: TD, bundle_endpoint_url: ep.url, profile: "https_web" }]));
  await refusedOnce(["create", "--data", data], "ERR_INVALID_ARGUMENT", /unknown key\(s\) profile/);
});

test("create, refresh, show, update, list --output json; delete refused while an entry federates", async () => {
  const c = await cli("create", ...spiffeFlags, "--bundle-endpoint-url", ep.url, "--output", "json");
  assert.equal(c.code, 0, c.err);
  assert.equal(JSON.parse(c.out).relationships[0].source, "api");
  const r = await cli("refresh", "--trust-domain", TD, "--output", "json");
  assert.equal(r.code, 0, r.err);
  const shown = JSON.parse(r.out);
  assert.equal(shown.status.bundle.sequence, 4);
  assert.equal(shown.status.bundle.x509Authorities, 1);
  assert.notEqual(shown.status.lastSuccess, "never");
  const text = await cli("show", "--trust-domain", TD);
  for (const label of ["Last success:", "Last error:", "Next attempt:", "Sequence:", "Keys:"]) assert.match(text.out, new RegExp(label));
  assert.match(text.out, /Sequence:\s+4\n/);
  assert.match(text.out, /Keys:\s+1 X\.509, 0 JWT/);

  // refresh refused: the reason is the error and the stored bundle stays.
  ep.handler = json('{"keys": [');
  const bad = await cli("refresh", "--trust-domain", TD);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^error \[ERR_FEDERATION_REFRESH_FAILED\]: .*not JSON/);
  const after = JSON.parse((await cli("show", "--trust-domain", TD, "--output", "json")).out);
  assert.equal(after.status.lastError.reason, "malformed_json");
  assert.equal(after.status.bundle.sequence, 4);
  ep.handler = json(remote.doc(4));

  // update keeps what is not given; the profile is never switched silently.
  const u = await cli("update", "--trust-domain", TD, "--bundle-endpoint-profile", "https_web");
  assert.equal(u.code, 0, u.err);
  assert.equal(JSON.parse((await cli("show", "--trust-domain", TD, "--output", "json")).out).endpointSpiffeId, undefined);
  assert.equal((await cli("update", "--trust-domain", TD, "--bundle-endpoint-profile", "https_spiffe", "--endpoint-spiffe-id", ID)).code, 0);

  const admin = createAdminClient({ socketPath: srv.options.adminSocket });
  const entry = await admin.createEntry({ entry: { spiffeId: "spiffe://example.org/w", parentId: "spiffe://example.org/spindle/agent/x", selectors: [{ type: "unix", value: "uid:1" }], federatesWith: [TD] } });
  const d = await cli("delete", "--trust-domain", TD);
  assert.equal(d.code, 1);
  assert.match(d.err, /^error \[ERR_BUNDLE_IN_USE\]: /);
  assert.equal(JSON.parse((await cli("list", "--output", "json")).out).relationships.length, 1);

  // Restart: relationship and stored bundle survive; the refresher runs again.
  await srv.server.stop();
  srv = await startTestServer({ datastore: { kind: "sqlite", path: dsPath } });
  const again = JSON.parse((await cli("show", "--trust-domain", TD, "--output", "json")).out);
  assert.equal(again.status.bundle.sequence, 4, "stored bundle kept across the restart");
  ep.handler = json(remote.doc(5));
  assert.equal(JSON.parse((await cli("refresh", "--trust-domain", TD, "--output", "json")).out).status.bundle.sequence, 5);

  await createAdminClient({ socketPath: srv.options.adminSocket }).deleteEntry({ id: entry.id });
  const ok = await cli("delete", "--trust-domain", TD);
  assert.equal(ok.code, 0, ok.err);
  await nothingStored();
});

test("config relationships are listed as config and cannot be updated or deleted through the API", async () => {
  const cfg = validateRelationship(
    { trustDomain: "c.test", bundleEndpointUrl: ep.url, profile: "https_spiffe", endpointSpiffeId: "spiffe://c.test/spindle/server", bootstrap: { content: remoteDomain("c.test").doc(1), format: "spiffe", origin: "test" } },
    "example.org",
    "config",
  );
  const s = await startTestServer({ federatesWith: [cfg] });
  try {
    const run = async (...argv: string[]) => {
      let out = "";
      let err = "";
      const code = await runCli(["federation", ...argv, "--admin-socket", s.options.adminSocket], { stdout: (x) => (out += x), stderr: (x) => (err += x), env: {} });
      return { code, out, err };
    };
    const l = JSON.parse((await run("list", "--output", "json")).out);
    assert.deepEqual(l.relationships.map((r: { trustDomain: string; source: string }) => [r.trustDomain, r.source]), [["c.test", "config"]]);
    for (const argv of [["delete", "--trust-domain", "c.test"], ["update", "--trust-domain", "c.test", "--bundle-endpoint-url", "https://elsewhere.example/"]]) {
      const r = await run(...argv);
      assert.equal(r.code, 1);
      assert.match(r.err, /^error \[ERR_FEDERATION_FROM_CONFIG\]: .*config file/);
    }
    const cr = await run("create", "--trust-domain", "c.test", "--bundle-endpoint-url", ep.url, "--bundle-endpoint-profile", "https_web");
    assert.match(cr.err, /^error \[ERR_FEDERATION_FROM_CONFIG\]: /);
  } finally {
    await s.close();
  }
});
