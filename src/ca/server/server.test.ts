// One in-process server on SQLite: agent-API issuances (attest, renew, batch sign, JWT mint) each
// write the audit line of the admin API's shape, and the agent_api limits from ServerOptions
// reach the agent API (agent SVID TTL, signings per second).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { createJoinTokenAgentAttestor } from "../../agent/nodeattestors/join-token/index.js";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import { createLogger } from "../../common/logger.js";
import { pemToDers } from "../../common/pem.js";
import { createBundle, createBundleSet, parseTrustDomain, validateX509Svid } from "../../spiffe/index.js";
import { createAdminClient } from "../admin/index.js";
import { ERROR_CODE_HEADER } from "../agentapi/index.js";
import { agentClient, attest, makeCsr } from "../../../test/support/agentapi-harness.js";
import { joinTokenAgentId } from "../nodeattestors/index.js";
import { connect } from "node:tls";
import { request as httpsRequest } from "node:https";
import { createServer, type Server } from "./index.js";

const TD = "example.org";
const dir = mkdtempSync(join(tmpdir(), "spindle-server-"));
const logs: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
    cb();
  },
});
const adminSocket = join(dir, "private", "admin.sock");
// Fake time (starting now, so certificates are valid for TLS): the rate limiter refills only when
// the test advances it, never because the machine was slow.
const clock = createFakeClock(Date.now());
let server: Server;

before(async () => {
  server = createServer(
    {
      trustDomain: TD,
      serverId: "audit-1",
      dataDir: join(dir, "data"),
      bindAddress: { host: "127.0.0.1", port: 0 },
      adminSocket,
      datastore: { kind: "sqlite", path: join(dir, "ds.sqlite3") },
      caTtlSeconds: 86400,
      x509SvidTtlSeconds: 3600,
      jwtSvidTtlSeconds: 300,
      keyManager: "memory",
      caKeyType: "ec-p256",
      jwtKeyType: "ec-p256",
      logLevel: "info",
      healthAddress: { host: "127.0.0.1", port: 0 },
      bundleRefreshHintSeconds: 300,
      agentApi: { agentSvidTtlSeconds: 600, signingsPerSecond: 2 },
      federation: { bundleEndpoint: { address: { host: "127.0.0.1", port: 0 }, refreshHintSeconds: 300, profile: { kind: "https_spiffe" } } },
    },
    { logger: createLogger({ level: "info", destination: sink }), clock, version: "test" },
  );
  await server.start();
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const auditLines = () => logs.filter((l) => l["audit"] === "svid_issued");
const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test("agent-API issuances write one audit line each: entry id, SPIFFE ID, requester, serial, expiry", async () => {
  const admin = createAdminClient({ socketPath: adminSocket });
  const { token } = await admin.generateJoinToken({});
  const agentId = joinTokenAgentId(parseTrustDomain(TD), token);
  const entry = await admin.createEntry({ entry: { spiffeId: `spiffe://${TD}/web`, parentId: agentId, selectors: [{ type: "unix", value: "uid:1000" }] } });
  const bundle = await admin.getBundle({});
  const bundles = createBundleSet([createBundle({ trustDomain: parseTrustDomain(TD), x509Authorities: pemToDers(bundle.pem, "CERTIFICATE") })]);
  const port = server.agentApiAddress()!.port;

  const before = Date.now();
  const { svid, privateKey } = await attest(agentClient(port, bundle.pem), createJoinTokenAgentAttestor({ token }));
  const agentLeaf = validateX509Svid(svid.svid!.certChain, bundles, { now: Date.now() }).leaf;
  const ttl = (Number(svid.svid!.expiresAt) - before) / 1000;
  assert.ok(ttl > 590 && ttl <= 601, `agent_api.agent_svid_ttl reaches the agent API (agent SVID lives ${ttl} s)`);

  const client = agentClient(port, bundle.pem, { chainDer: svid.svid!.certChain, privateKey });
  const csr = await makeCsr({ uris: [entry.spiffeId] });
  const signed = await client.batchSignX509Svid({ requests: [{ entryId: entry.id, csr: csr.der }] });
  assert.equal(signed.results[0]!.status!.code, "", signed.results[0]!.status!.message);
  const leaf = validateX509Svid(signed.results[0]!.svid!.certChain, bundles, { now: Date.now() }).leaf;
  const jwt = await client.mintJwtSvid({ entryId: entry.id, audience: ["billing"] });

  const lines = auditLines();
  assert.equal(lines.length, 3, JSON.stringify(lines));
  const [a, x, j] = lines;
  const common = { component: "audit", msg: "SVID issued", requester: agentId };
  assert.deepEqual(
    { ...pick(a!, Object.keys(common)), svidType: a!["svidType"], entryId: a!["entryId"], spiffeId: a!["spiffeId"], serial: a!["serial"] },
    { ...common, svidType: "agent", entryId: "", spiffeId: agentId, serial: agentLeaf.serialNumber.toLowerCase() },
  );
  assert.equal(a!["expiresAt"], new Date(Number(svid.svid!.expiresAt)).toISOString());
  assert.deepEqual(
    { ...pick(x!, Object.keys(common)), svidType: x!["svidType"], entryId: x!["entryId"], spiffeId: x!["spiffeId"], serial: x!["serial"] },
    { ...common, svidType: "x509", entryId: entry.id, spiffeId: entry.spiffeId, serial: leaf.serialNumber.toLowerCase() },
  );
  assert.equal(x!["expiresAt"], new Date(Number(signed.results[0]!.svid!.expiresAt)).toISOString());
  assert.deepEqual(
    { ...pick(j!, Object.keys(common)), svidType: j!["svidType"], entryId: j!["entryId"], spiffeId: j!["spiffeId"], serial: j!["serial"] },
    { ...common, svidType: "jwt", entryId: entry.id, spiffeId: entry.spiffeId, serial: "" },
  );
  const header = JSON.parse(Buffer.from(jwt.token.split(".")[0]!, "base64url").toString()) as { kid: string };
  assert.equal(j!["kid"], header.kid);
  assert.equal(j!["expiresAt"], new Date(Number(jwt.expiresAt)).toISOString());
  for (const l of lines) assert.match(String(l["expiresAt"]), iso);
  assert.ok(!lines.some((l) => JSON.stringify(l).includes("PRIVATE KEY")), "no key material");

  // The renewal is the 3rd signing within a second (CSR, JWT): agent_api.signings_per_second = 2 refuses it.
  const renewCsr = await makeCsr();
  await assert.rejects(client.renewAgent({ csr: renewCsr.der }), (err) => ConnectError.from(err).metadata.get(ERROR_CODE_HEADER) === "ERR_RESOURCE_EXHAUSTED");
  clock.advance(1100);
  const renewed = await client.renewAgent({ csr: renewCsr.der });
  const r = auditLines().at(-1)!;
  assert.equal(r["svidType"], "agent");
  assert.equal(r["requester"], agentId);
  assert.equal(r["serial"], validateX509Svid(renewed.result!.svid!.certChain, bundles, { now: Date.now() }).leaf.serialNumber.toLowerCase());
});

/** The leaf certificate a TLS server on 127.0.0.1:port presents (DER). */
function presentedLeaf(port: number, alpn?: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      resolve(raw);
    });
    s.once("error", reject);
  });
}

test("federation.bundle_endpoint: serves the admin API's bundle document over TLS with the agent API's server SVID", async () => {
  const admin = createAdminClient({ socketPath: adminSocket });
  const bundle = await admin.getBundle({});
  const port = server.bundleEndpointAddress()!.port;
  const body = await new Promise<{ status: number; type: string | undefined; text: string }>((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path: "/", ca: bundle.pem, checkServerIdentity: () => undefined }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => resolve({ status: res.statusCode!, type: res.headers["content-type"], text }));
    });
    req.once("error", reject);
    req.end();
  });
  assert.equal(body.status, 200);
  assert.equal(body.type, "application/json");
  assert.equal(body.text, bundle.spiffeBundle, "one document for the admin API and the endpoint");
  assert.equal((JSON.parse(body.text) as { spiffe_sequence: number }).spiffe_sequence, Number(bundle.sequence));
  const endpointLeaf = await presentedLeaf(port);
  const agentApiLeaf = await presentedLeaf(server.agentApiAddress()!.port, ["h2"]);
  assert.ok(endpointLeaf.equals(agentApiLeaf), "one server SVID, renewed once for both listeners");
  const bundles = createBundleSet([createBundle({ trustDomain: parseTrustDomain(TD), x509Authorities: pemToDers(bundle.pem, "CERTIFICATE") })]);
  const chain = [endpointLeaf];
  assert.equal(validateX509Svid(chain, bundles, { now: Date.now() }).spiffeId.toString(), `spiffe://${TD}/spindle/server`);
});

test("authority activate sooner than 3 refresh hints after prepare warns with the earliest safe time; later it does not", async () => {
  const admin = createAdminClient({ socketPath: adminSocket });
  const prepared = (await admin.prepareAuthority({ kind: "jwt" })).authority!;
  // 3 x 300 s refresh hint + 5 s peer refresh interval after it was prepared.
  const safe = Number(prepared.safeToActivateAt);
  assert.ok(safe >= clock.now() + 905_000 - 1000 && safe <= clock.now() + 905_000, `safe ${new Date(safe).toISOString()}`);
  const early = await admin.activateAuthority({ kind: "jwt" });
  assert.equal(early.authority!.state, "active", "the operator's activation still happens");
  assert.ok(early.warning.includes(new Date(safe).toISOString()), early.warning);
  assert.ok(logs.some((l) => l["level"] === "warn" && String(l["msg"]).includes(new Date(safe).toISOString())), "the server logs the early activation");

  await admin.prepareAuthority({ kind: "jwt" });
  clock.advance(905_000);
  const late = await admin.activateAuthority({ kind: "jwt" });
  assert.equal(late.warning, "");
});

function pick(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
