// The bundle refresher against real HTTPS endpoints on 127.0.0.1: https_spiffe and https_web
// success paths, and the hostile matrix (each refusal keeps the stored bundle, logs one line naming
// the relationship and the reason, and counts the reason).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SpindleError } from "../../common/errors.js";
import { decodeSpiffeBundle, encodeSpiffeBundle, parseTrustDomain } from "../../spiffe/index.js";
import { createTestBundle, createTestCa } from "../../../test/support/spiffe/index.js";
import type { FederationManager } from "./manager.js";
import { createHarness, endpointSvid, json, remoteDomain, spiffeInput, startEndpoint, webServerCert, type Harness, type TestEndpoint } from "../../../test/support/federation-endpoint.js";

const TD = "b.test";
const ENDPOINT_ID = "spiffe://b.test/spindle/server";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function endpoint(certPem: string, keyPem: string, body: string): Promise<TestEndpoint> {
  const ep = await startEndpoint(certPem, keyPem, json(body));
  cleanups.push(() => ep.close());
  return ep;
}

async function harness(): Promise<Harness> {
  const h = await createHarness();
  cleanups.push(() => h.close());
  return h;
}

async function storedSeq(h: Harness): Promise<number | undefined> {
  const rec = await h.ds.getFederatedBundle(TD);
  return rec ? decodeSpiffeBundle(parseTrustDomain(TD), rec.bundle).sequenceNumber : undefined;
}

/** Refresh is refused with `reason`; the stored bundle is byte-for-byte what it was. */
async function assertRefused(h: Harness, m: FederationManager, reason: string, detail?: RegExp): Promise<void> {
  const before = (await h.ds.getFederatedBundle(TD))?.bundle;
  assert.ok(before !== undefined, "a good bundle is stored before the hostile answer");
  const logsBefore = h.lines.length;
  await assert.rejects(m.refresh(TD), (e: unknown) => {
    assert.ok(e instanceof SpindleError);
    assert.equal(e.code, "ERR_FEDERATION_REFRESH_FAILED");
    assert.equal(e.details["reason"], reason, e.message);
    if (detail) assert.match(e.message, detail);
    return true;
  });
  assert.equal((await h.ds.getFederatedBundle(TD))?.bundle, before, "the last good bundle is kept");
  const warns = h.lines.slice(logsBefore).filter((l) => l.level === "warn");
  assert.equal(warns.length, 1, "one log line per refusal");
  assert.equal(warns[0]!["trustDomain"], TD);
  assert.equal(warns[0]!["reason"], reason);
  assert.match(warns[0]!.msg, new RegExp(`"${TD}" refused \\(${reason}\\)`));
  assert.deepEqual(h.refusals.at(-1), { trustDomain: TD, reason });
  const view = await m.get(TD);
  assert.equal(view.status.lastError?.reason, reason);
}

// --- https_spiffe ---------------------------------------------------------------------------

const remote = remoteDomain(TD);
let spiffeEp: TestEndpoint;
let otherIdEp: TestEndpoint;

before(async () => {
  const svid = endpointSvid(remote, ENDPOINT_ID);
  spiffeEp = await endpoint(svid.chainPem, svid.privateKeyPem, remote.doc(2));
  const other = endpointSvid(remote, "spiffe://b.test/not-the-endpoint");
  otherIdEp = await endpoint(other.chainPem, other.privateKeyPem, remote.doc(9));
});

async function spiffeSetup(url = spiffeEp.url): Promise<{ h: Harness; m: FederationManager }> {
  spiffeEp.handler = json(remote.doc(2));
  const h = await harness();
  const m = h.manager();
  await m.start();
  await m.create([spiffeInput(TD, url, ENDPOINT_ID, remote.doc(1))]);
  return { h, m };
}

test("https_spiffe: bootstrap bundle, first fetch replaces it, show reports sequence and key count", async () => {
  const { h, m } = await spiffeSetup();
  assert.equal(await storedSeq(h), 1, "bootstrap stored");
  const v = await m.refresh(TD);
  assert.equal(await storedSeq(h), 2);
  assert.equal(v.bundle?.sequence, 2);
  assert.equal(v.bundle?.x509Authorities, 1);
  assert.ok(v.status.lastSuccessAt !== undefined && v.status.nextAttemptAt !== undefined);
  assert.equal(v.relationship.source, "api");
});

test("https_spiffe: the endpoint presents another SPIFFE ID -> refused (endpoint_id_mismatch)", async () => {
  const { h, m } = await spiffeSetup();
  await m.refresh(TD);
  await m.update(spiffeInput(TD, otherIdEp.url, ENDPOINT_ID));
  await assertRefused(h, m, "endpoint_id_mismatch", /spiffe:\/\/b\.test\/not-the-endpoint/);
});

test("https_spiffe: a redirect to a server with another SPIFFE ID -> refused; the redirect target is not remembered", async () => {
  const { h, m } = await spiffeSetup();
  await m.refresh(TD);
  spiffeEp.handler = (_req, res) => {
    res.writeHead(302, { location: otherIdEp.url });
    res.end();
  };
  await assertRefused(h, m, "endpoint_id_mismatch");
  assert.equal((await m.get(TD)).relationship.bundleEndpointUrl, spiffeEp.url);
});

test("https_spiffe: a redirect to a server with the same SPIFFE ID is followed", async () => {
  const svid = endpointSvid(remote, ENDPOINT_ID);
  const target = await endpoint(svid.chainPem, svid.privateKeyPem, remote.doc(3));
  const { h, m } = await spiffeSetup();
  spiffeEp.handler = (_req, res) => {
    res.writeHead(307, { location: target.url });
    res.end();
  };
  await m.refresh(TD);
  assert.equal(await storedSeq(h), 3);
});

test("https_spiffe: a redirect to plain http is refused (redirect)", async () => {
  const { h, m } = await spiffeSetup();
  await m.refresh(TD);
  spiffeEp.handler = (_req, res) => {
    res.writeHead(302, { location: "http://127.0.0.1:1/" });
    res.end();
  };
  await assertRefused(h, m, "redirect", /https/);
});

test("https_spiffe: the endpoint certificate is checked against the latest stored bundle, not the bootstrap", async () => {
  const next = createTestCa({ trustDomain: TD });
  const rotated = endpointSvid({ ca: next, doc: () => "" }, ENDPOINT_ID);
  const bothDoc = encodeSpiffeBundle(createTestBundle({ cas: [remote.ca, next], sequenceNumber: 10 }));
  const rotatedEp = await endpoint(rotated.chainPem, rotated.privateKeyPem, bothDoc);
  const { h, m } = await spiffeSetup();
  // Only the bootstrap (old CA) is stored: the SVID from the new CA is not trusted yet.
  await m.update(spiffeInput(TD, rotatedEp.url, ENDPOINT_ID));
  await assertRefused(h, m, "server_certificate");
  // The old endpoint publishes both CAs; once fetched, the new CA authenticates the endpoint.
  await m.update(spiffeInput(TD, spiffeEp.url, ENDPOINT_ID));
  spiffeEp.handler = json(bothDoc);
  await m.refresh(TD);
  await m.update(spiffeInput(TD, rotatedEp.url, ENDPOINT_ID));
  rotatedEp.handler = json(encodeSpiffeBundle(createTestBundle({ cas: [next], sequenceNumber: 11 })));
  await m.refresh(TD);
  assert.equal(await storedSeq(h), 11);
});

test("https_spiffe: an expired endpoint SVID -> refused (server_certificate)", async () => {
  const now = Date.now();
  const expired = endpointSvid(remote, ENDPOINT_ID, { notBefore: now - 7200_000, notAfter: now - 3600_000 });
  const ep = await endpoint(expired.chainPem, expired.privateKeyPem, remote.doc(5));
  const { h, m } = await spiffeSetup();
  await m.refresh(TD);
  await m.update(spiffeInput(TD, ep.url, ENDPOINT_ID));
  await assertRefused(h, m, "server_certificate", /expired|not valid after|notAfter/i);
});

// --- https_web -------------------------------------------------------------------------------

const webCa = createTestCa({ trustDomain: "web-pki.test" });
let webEp: TestEndpoint;
let webUrl: string;

before(async () => {
  const cert = webServerCert(webCa);
  webEp = await endpoint(cert.pem, cert.privateKey.export({ type: "pkcs8", format: "pem" }) as string, remote.doc(5));
  webUrl = `https://localhost:${webEp.port}/bundle`;
});

async function webSetup(): Promise<{ h: Harness; m: FederationManager; caFile: string }> {
  webEp.handler = json(remote.doc(5));
  const h = await harness();
  const caFile = h.writeFile("web-ca.pem", webCa.pem);
  const m = h.manager([], {}, 1_500);
  await m.start();
  await m.create([{ trustDomain: TD, bundleEndpointUrl: webUrl, profile: "https_web", caFile }]);
  await m.refresh(TD);
  assert.equal(await storedSeq(h), 5, "good bundle fetched over https_web");
  return { h, m, caFile };
}

test("https_web: a certificate from an untrusted CA (system roots, no ca_file) -> refused (server_certificate)", async () => {
  const h = await harness();
  const m = h.manager();
  await m.start();
  await h.ds.setFederatedBundle(TD, remote.doc(1));
  await m.create([{ trustDomain: TD, bundleEndpointUrl: webUrl, profile: "https_web" }]);
  await assertRefused(h, m, "server_certificate");
});

test("https_web: a certificate for another host name -> refused (RFC 6125 check)", async () => {
  const { h, m, caFile } = await webSetup();
  const cert = webServerCert(webCa, { dnsNames: ["other.example"] });
  const ep = await endpoint(cert.pem, cert.privateKey.export({ type: "pkcs8", format: "pem" }) as string, remote.doc(6));
  await m.update({ trustDomain: TD, bundleEndpointUrl: `https://localhost:${ep.port}/`, profile: "https_web", caFile });
  await assertRefused(h, m, "server_certificate", /ALTNAME|other\.example/);
});

test("https_web: an expired certificate -> refused (server_certificate)", async () => {
  const { h, m, caFile } = await webSetup();
  const now = Date.now();
  const cert = webServerCert(webCa, { notBefore: now - 7200_000, notAfter: now - 3600_000 });
  const ep = await endpoint(cert.pem, cert.privateKey.export({ type: "pkcs8", format: "pem" }) as string, remote.doc(6));
  await m.update({ trustDomain: TD, bundleEndpointUrl: `https://localhost:${ep.port}/`, profile: "https_web", caFile });
  await assertRefused(h, m, "server_certificate", /CERT_HAS_EXPIRED/);
});

test("https_web: a bundle of another trust domain -> refused (wrong_trust_domain)", async () => {
  const { h, m } = await webSetup();
  webEp.handler = json(remoteDomain("c.test").doc(50));
  await assertRefused(h, m, "wrong_trust_domain", /spiffe:\/\/c\.test/);
});

test("https_web: a lower spiffe_sequence -> refused (sequence_regressed)", async () => {
  const { h, m } = await webSetup();
  webEp.handler = json(remote.doc(4));
  await assertRefused(h, m, "sequence_regressed", /4 is lower than the stored 5/);
});

test("https_web: malformed JSON -> refused (malformed_json)", async () => {
  const { h, m } = await webSetup();
  webEp.handler = json('{"keys": [');
  await assertRefused(h, m, "malformed_json");
});

test("https_web: a 5 MB body -> refused (body_too_large), whether declared or streamed", async () => {
  const { h, m } = await webSetup();
  const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
  webEp.handler = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": String(big.length) });
    res.end(big);
  };
  await assertRefused(h, m, "body_too_large");
  webEp.handler = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    for (let i = 0; i < 5; i++) res.write(big.subarray(0, 1024 * 1024));
    res.end();
  };
  await assertRefused(h, m, "body_too_large");
});

test("https_web: an endpoint that never answers -> refused (timeout)", async () => {
  const { h, m } = await webSetup();
  webEp.handler = () => undefined;
  await assertRefused(h, m, "timeout", /1500 ms/);
});

test("https_web: HTTP 500 -> refused (http_status)", async () => {
  const { h, m } = await webSetup();
  webEp.handler = (_req, res) => {
    res.writeHead(500);
    res.end("boom");
  };
  await assertRefused(h, m, "http_status", /HTTP 500/);
});

test("https_web: keys without kty/use only -> refused (no_usable_keys); an explicitly empty keys array is accepted as revocation", async () => {
  const { h, m } = await webSetup();
  webEp.handler = json(JSON.stringify({ keys: [{ use: "x509-svid", x5c: ["AAAA"] }, { kty: "EC" }], spiffe_sequence: 6 }));
  await assertRefused(h, m, "no_usable_keys");
  webEp.handler = json(JSON.stringify({ keys: [], spiffe_sequence: 7 }));
  const v = await m.refresh(TD);
  assert.equal(v.bundle?.x509Authorities, 0);
  assert.equal(v.bundle?.sequence, 7);
});

test("https_web: an endpoint that is down keeps the last good bundle; show names the last error", async () => {
  const { h, m, caFile } = await webSetup();
  await m.update({ trustDomain: TD, bundleEndpointUrl: "https://localhost:1/", profile: "https_web", caFile });
  await assertRefused(h, m, "connect");
  const v = await m.get(TD);
  assert.equal(v.bundle?.sequence, 5);
});
