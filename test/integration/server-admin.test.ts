// The admin API over a real Unix socket on an in-process server (SQLite, memory keys): garbage
// and invalid input to every RPC, federated bundles, authorities, health, audit and metrics.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, statSync } from "node:fs";
import { connect as h2connect } from "node:http2";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { SpindleError, type ErrorCode } from "../../src/common/errors.js";
import { AdminService } from "../../src/gen/spindle/admin/v1/admin_pb.js";
import { createAdminClient, type AdminClient } from "../../src/ca/admin/index.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

let srv: TestServer;
let client: AdminClient;
before(async () => {
  srv = await startTestServer();
  client = createAdminClient({ socketPath: srv.options.adminSocket });
});
after(async () => srv.close());

async function rejects(p: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SpindleError, String(err));
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return;
  }
  assert.fail(`expected ${code}`);
}

function rawGrpc(path: string, method: string, body: Buffer): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const session = h2connect("http://localhost", { createConnection: () => connect(path) });
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": `/spindle.admin.v1.AdminService/${method}`, "content-type": "application/grpc", te: "trailers" });
    req.on("data", () => undefined);
    req.on("trailers", (t) => {
      session.close();
      resolve(t as Record<string, string>);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function rawConnect(path: string, method: string, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const session = h2connect("http://localhost", { createConnection: () => connect(path) });
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": `/spindle.admin.v1.AdminService/${method}`, "content-type": "application/proto", "connect-protocol-version": "1" });
    let headers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => void (headers = h as Record<string, string>));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve({ status: Number(headers[":status"]), headers, body: Buffer.concat(chunks).toString() });
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function nothingWritten(): Promise<void> {
  assert.equal((await client.countEntries({})).count, 0n, "no entry was stored");
  assert.equal((await client.listFederatedBundles({})).bundles.length, 0, "no bundle was stored");
  assert.equal(srv.logs.filter((l) => l["audit"] === "svid_issued").length, 0, "nothing was issued");
}

test("admin socket directory is 0700 and the socket 0600", () => {
  assert.equal(statSync(dirname(srv.options.adminSocket)).mode & 0o777, 0o700);
  assert.equal(statSync(srv.options.adminSocket).mode & 0o777, 0o600);
});

test("undecodable bytes to every admin RPC get INVALID_ARGUMENT and change nothing", async () => {
  const garbage = Buffer.concat([Buffer.from([0, 0, 0, 0, 6]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]);
  const methods = AdminService.methods.map((m) => m.name);
  assert.ok(methods.length >= 22);
  for (const m of methods) {
    const t = await rawGrpc(srv.options.adminSocket, m, garbage);
    assert.equal(t["grpc-status"], "3", `${m}: ${decodeURIComponent(t["grpc-message"] ?? "")}`);
    assert.equal(t["spindle-error-code"], "ERR_INVALID_ARGUMENT", m);
    assert.match(decodeURIComponent(t["grpc-message"] ?? ""), /not a valid protobuf message/);
  }
  await nothingWritten();
});

test("undecodable bytes over Connect (application/proto) get invalid_argument without the decoder's text", async () => {
  for (const m of AdminService.methods.filter((x) => x.methodKind === "unary").map((x) => x.name)) {
    const res = await rawConnect(srv.options.adminSocket, m, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    assert.equal(res.status, 400, `${m}: ${res.body}`);
    assert.equal(res.headers["spindle-error-code"], "ERR_INVALID_ARGUMENT", m);
    const parsed = JSON.parse(res.body) as { code: string; message: string };
    assert.equal(parsed.code, "invalid_argument", m);
    assert.match(parsed.message, /not a valid protobuf message/);
    assert.doesNotMatch(res.body, /parse binary|premature|wire type/i, m);
  }
  await nothingWritten();
});

test("invalid values to every admin RPC get a clear typed error and change nothing", async () => {
  await rejects(client.createEntry({}), "ERR_INVALID_ARGUMENT", /entry is missing/);
  await rejects(client.createEntry({ entry: { spiffeId: "spiffe://example.org/x", parentId: "spiffe://example.org/y" } }), "ERR_ENTRY_INVALID", /selectors: at least one selector/);
  await rejects(client.createEntry({ entry: { spiffeId: "x", parentId: "spiffe://o.org/a", selectors: [{ type: "a", value: "b" }], expiresAt: -1n } }), "ERR_INVALID_ARGUMENT", /expires_at is out of range/);
  const batch = await client.batchCreateEntry({ entries: [{}, { spiffeId: "spiffe://example.org/x" }] });
  assert.deepEqual(batch.results.map((r) => r.status?.code), ["ERR_ENTRY_INVALID", "ERR_ENTRY_INVALID"]);
  await rejects(client.updateEntry({ entry: { id: "" } }), "ERR_INVALID_ARGUMENT", /entry id is empty/);
  await rejects(client.updateEntry({ entry: { id: "nope" }, fields: ["colour"] }), "ERR_INVALID_ARGUMENT", /unknown entry field.*"colour"/);
  await rejects(client.updateEntry({ entry: { id: "nope" }, fields: ["hint"] }), "ERR_NOT_FOUND", /nope/);
  const bu = await client.batchUpdateEntry({ updates: [{}, { entry: { id: "nope" } }] });
  assert.deepEqual(bu.results.map((r) => r.status?.code), ["ERR_INVALID_ARGUMENT", "ERR_NOT_FOUND"]);
  await rejects(client.deleteEntry({ id: "" }), "ERR_INVALID_ARGUMENT");
  await rejects(client.deleteEntry({ id: "nope" }), "ERR_NOT_FOUND");
  assert.equal((await client.batchDeleteEntry({ ids: ["nope"] })).results[0]?.status?.code, "ERR_NOT_FOUND");
  await rejects(client.getEntry({ id: "" }), "ERR_INVALID_ARGUMENT");
  await rejects(client.listEntries({ pageSize: -1 }), "ERR_INVALID_ARGUMENT", /page_size/);
  await rejects(client.listEntries({ filter: { selectors: [{ type: "", value: "" }] } }), "ERR_SELECTOR_INVALID");
  await rejects(client.countEntries({ filter: { selectors: [{ type: "unix", value: "" }] } }), "ERR_SELECTOR_INVALID");
  await rejects(client.setFederatedBundle({ trustDomain: "Bad TD", spiffeBundle: "{}" }), "ERR_TRUST_DOMAIN_INVALID");
  await rejects(client.setFederatedBundle({ trustDomain: "example.org", spiffeBundle: '{"keys":[]}' }), "ERR_INVALID_ARGUMENT", /own trust domain/);
  await rejects(client.setFederatedBundle({ trustDomain: "other.org", spiffeBundle: "not json" }), "ERR_BUNDLE_INVALID");
  await rejects(client.setFederatedBundle({ trustDomain: "other.org", spiffeBundle: '{"keys":[{"kty":"EC","use":"x509-svid","x5c":["AAAA"]}]}' }), "ERR_BUNDLE_INVALID");
  await rejects(client.deleteFederatedBundle({ trustDomain: "none.org" }), "ERR_NOT_FOUND");
  await rejects(client.deleteFederatedBundle({ trustDomain: "" }), "ERR_TRUST_DOMAIN_INVALID");
  await rejects(client.mintX509SVID({ spiffeId: "spiffe://example.org" }), "ERR_INVALID_ARGUMENT", /needs a path/);
  await rejects(client.mintX509SVID({ spiffeId: "spiffe://evil.org/x" }), "ERR_INVALID_ARGUMENT", /outside the trust domain/);
  await rejects(client.mintX509SVID({ spiffeId: "spiffe://example.org/x", ttl: 999999 }), "ERR_INVALID_ARGUMENT", /ttl/);
  await rejects(client.mintX509SVID({ spiffeId: "spiffe://example.org/x", dnsNames: ["bad..name"] }), "ERR_INVALID_ARGUMENT", /dns_names\[0\]/);
  await rejects(client.mintJWTSVID({ spiffeId: "spiffe://example.org/x" }), "ERR_INVALID_ARGUMENT", /audience/);
  await rejects(client.mintJWTSVID({ spiffeId: "spiffe://example.org/x", audience: [""] }), "ERR_INVALID_ARGUMENT", /audience/);
  await rejects(client.generateJoinToken({ ttl: -5 }), "ERR_INVALID_ARGUMENT", /TTL/);
  await rejects(client.prepareAuthority({ kind: "rsa" }), "ERR_INVALID_ARGUMENT", /kind/);
  await rejects(client.activateAuthority({ kind: "" }), "ERR_INVALID_ARGUMENT", /kind/);
  await rejects(client.taintAuthority({ kind: "x509", id: "" }), "ERR_INVALID_ARGUMENT", /id/);
  await rejects(client.revokeAuthority({ kind: "jwt", id: "nope" }), "ERR_NOT_FOUND");
  await nothingWritten();
});

test("federated bundles: set, list, in-use protection, delete", async () => {
  const doc = JSON.stringify({ keys: [], spiffe_sequence: 3 });
  await client.setFederatedBundle({ trustDomain: "partner.org", spiffeBundle: doc });
  assert.deepEqual((await client.listFederatedBundles({})).bundles.map((b) => [b.trustDomain, b.spiffeBundle]), [["partner.org", doc]]);
  const e = await client.createEntry({
    entry: { spiffeId: "spiffe://example.org/fed", parentId: "spiffe://example.org/agent", selectors: [{ type: "unix", value: "uid:1" }], federatesWith: ["partner.org"] },
  });
  assert.equal((await client.listEntries({ filter: { federatesWith: ["partner.org"] } })).entries[0]?.id, e.id);
  await rejects(client.deleteFederatedBundle({ trustDomain: "partner.org" }), "ERR_BUNDLE_IN_USE", new RegExp(e.id));
  await client.deleteEntry({ id: e.id });
  await client.deleteFederatedBundle({ trustDomain: "partner.org" });
  assert.equal((await client.listFederatedBundles({})).bundles.length, 0);
});

test("authorities: show, prepare, activate, taint, revoke; the bundle follows", async () => {
  const before = (await client.showAuthorities({})).authorities;
  assert.deepEqual(before.map((a) => [a.kind, a.state]).sort(), [["jwt", "active"], ["x509", "active"]]);
  const seq0 = (await client.getBundle({})).sequence;
  const prepared = (await client.prepareAuthority({ kind: "x509" })).authority!;
  assert.equal(prepared.state, "prepared");
  await new Promise((r) => setTimeout(r, 50));
  const b1 = await client.getBundle({});
  assert.ok(b1.sequence > seq0, "spiffe_sequence grows on an authority change");
  assert.equal((b1.pem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, "the prepared CA is published before it signs");
  const activated = (await client.activateAuthority({ kind: "x509" })).authority!;
  assert.equal(activated.id, prepared.id);
  assert.equal(activated.state, "active");
  const old = before.find((a) => a.kind === "x509")!;
  assert.equal((await client.taintAuthority({ kind: "x509", id: old.id })).authority?.tainted, true);
  await client.revokeAuthority({ kind: "x509", id: old.id });
  const b2 = await client.getBundle({});
  assert.equal((b2.pem.match(/BEGIN CERTIFICATE/g) ?? []).length, 1, "the revoked CA left the bundle");
  await rejects(client.activateAuthority({ kind: "x509" }), "ERR_NOT_FOUND", /no prepared x509 authority/);
});

test("health, metrics and one audit line per issuance", async () => {
  const h = await client.health({});
  assert.deepEqual([h.ready, h.trustDomain, h.serverId, h.datastore], [true, "example.org", "test-1", "sqlite"]);
  const x = await client.mintX509SVID({ spiffeId: "spiffe://example.org/audited", dnsNames: ["svc.local"] });
  const j = await client.mintJWTSVID({ spiffeId: "spiffe://example.org/audited", audience: ["a"] });
  const audits = srv.logs.filter((l) => l["audit"] === "svid_issued");
  assert.equal(audits.length, 2);
  assert.deepEqual(
    { ...audits[0], time: undefined },
    {
      ...audits[0],
      time: undefined,
      svidType: "x509",
      spiffeId: "spiffe://example.org/audited",
      requester: `admin-socket uid=${process.getuid!()} pid=${process.pid}`,
      serial: x.serial,
      expiresAt: new Date(Number(x.expiresAt)).toISOString(),
      entryId: "",
    },
  );
  assert.equal(audits[1]!["kid"], j.kid);
  assert.equal(JSON.stringify(srv.logs).includes(Buffer.from(x.privateKey).toString("base64")), false, "keys are never logged");
  const base = `http://127.0.0.1:${srv.server.healthAddress()!.port}`;
  assert.equal((await fetch(`${base}/live`)).status, 200);
  assert.equal((await fetch(`${base}/ready`)).status, 200);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^spindle_server_svid_signings_total\{type="x509"\} 1$/m);
  assert.match(metrics, /^spindle_server_svid_signings_total\{type="jwt"\} 1$/m);
  assert.match(metrics, /^spindle_server_registration_entries \d+$/m);
  assert.match(metrics, /^spindle_server_authority_expiry_seconds\{kind="x509",id="[0-9a-f]+",state="active"\} \d+$/m);
  assert.match(metrics, /^# TYPE spindle_server_datastore_errors_total counter$/m);
});

test("the admin socket refuses a shared directory, a socket in use, and replaces a stale one", async () => {
  const shared = join(srv.dir, "shared");
  mkdirSync(shared, { mode: 0o755 });
  chmodSync(shared, 0o755);
  await assert.rejects(startTestServer({ adminSocket: join(shared, "admin.sock") }), (e) => SpindleError.is(e, "ERR_SERVER_START") && /mode 0755/.test(e.message));
  assert.equal(statSync(shared).mode & 0o777, 0o755, "an existing directory is never chmod-ed");
  await assert.rejects(startTestServer({ adminSocket: srv.options.adminSocket }), (e) => SpindleError.is(e, "ERR_SERVER_START") && /in use/.test(e.message));
  assert.equal((await client.health({})).ready, true, "the running server is untouched");

  const privateDir = join(srv.dir, "stale");
  mkdirSync(privateDir, { mode: 0o700 });
  const stalePath = join(privateDir, "admin.sock");
  // A crashed server: killed with SIGKILL, it leaves its socket file behind with nobody accepting.
  const crashed = spawn(process.execPath, ["-e", `require("node:net").createServer().listen(${JSON.stringify(stalePath)}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "ignore"] });
  await new Promise((r) => crashed.stdout.once("data", r));
  crashed.kill("SIGKILL");
  await new Promise((r) => crashed.once("exit", r));
  assert.ok(lstatSync(stalePath).isSocket(), "the stale socket file is still there");
  const second = await startTestServer({ adminSocket: stalePath });
  try {
    assert.equal((await createAdminClient({ socketPath: stalePath }).health({})).ready, true);
  } finally {
    await second.close();
  }
});
