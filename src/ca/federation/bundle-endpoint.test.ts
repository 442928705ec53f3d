import { after, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type PeerCertificate, type TLSSocket } from "node:tls";
import { createSilentLogger, systemClock } from "../../common/index.js";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import { certsToPem } from "../../common/pem.js";
import { createBundle, createBundleSet, decodeSpiffeBundle, parseTrustDomain, validateX509Svid } from "../../spiffe/index.js";
import { createCertificateAuthority, createMemoryJournalStore, createServerSvidSource, type ManagedCertificateAuthority } from "../authority/index.js";
import { createMemoryKeyManager } from "../keys/index.js";
import { createOwnBundleSource } from "../server/own-bundle.js";
import { createBundleEndpointHandler, startBundleEndpoint, type BundleEndpoint } from "./bundle-endpoint.js";

const TD = "example.org";
const SERVER_ID = `spiffe://${TD}/spindle/server`;
const logger = createSilentLogger();
const dir = mkdtempSync(join(tmpdir(), "spindle-bundle-endpoint-"));
const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

// Certificates must be valid for the real TLS stacks below, so the fake clock starts at "now".
async function newCa(journalStore = createMemoryJournalStore(), serverId = "server-a", clock = createFakeClock(Date.now())) {
  const ca = await createCertificateAuthority({ trustDomain: TD, serverId, keyManager: createMemoryKeyManager(), journalStore, clock, logger });
  return { ca, clock, journalStore };
}

async function plainServer(document: () => string): Promise<string> {
  const server: Server = createServer(createBundleEndpointHandler(document));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const docOf = (ca: ManagedCertificateAuthority) => {
  const source = createOwnBundleSource(ca, 300);
  return () => source().spiffeJson;
};

test("GET / answers the SPIFFE bundle: x509-svid keys with one x5c and no kid, jwt-svid keys with kid, sequence and hint", async () => {
  const { ca } = await newCa();
  const base = await plainServer(docOf(ca));
  const res = await fetch(`${base}/`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  const text = await res.text();
  const doc = JSON.parse(text) as { keys: Record<string, unknown>[]; spiffe_sequence: number; spiffe_refresh_hint: number };
  assert.equal(doc.spiffe_refresh_hint, 300);
  assert.ok(Number.isSafeInteger(doc.spiffe_sequence) && doc.spiffe_sequence >= 1, `sequence ${doc.spiffe_sequence}`);
  const x509 = doc.keys.filter((k) => k["use"] === "x509-svid");
  const jwt = doc.keys.filter((k) => k["use"] === "jwt-svid");
  assert.equal(x509.length, 1);
  assert.equal(jwt.length, 1);
  assert.equal(doc.keys.length, 2);
  assert.equal(x509[0]!["kid"], undefined);
  assert.equal(x509[0]!["kty"], "EC");
  assert.deepEqual(x509[0]!["x5c"], [ca.bundleContents().x509Authorities[0]!.toString("base64")]);
  assert.equal(jwt[0]!["kid"], ca.show().jwt[0]!.kid);
  assert.equal(jwt[0]!["kty"], "EC");
  // The repository's own decoder (what `spindle bundle set` and the refresher use) accepts it.
  const bundle = decodeSpiffeBundle(parseTrustDomain(TD), text);
  assert.equal(bundle.sequenceNumber, doc.spiffe_sequence);
  assert.equal(bundle.x509Authorities.length, 1);
  assert.ok(bundle.jwtAuthorities.has(ca.show().jwt[0]!.kid));
  const query = await fetch(`${base}/?x=1`);
  assert.equal(query.status, 200, "a query string does not change the path");
  assert.equal(await query.text(), text);
});

test("other methods are 405 with Allow; HEAD has the headers and no body; other paths are 404", async () => {
  const { ca } = await newCa();
  const base = await plainServer(docOf(ca));
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    const res = await fetch(`${base}/`, { method, ...(method === "POST" || method === "PUT" || method === "PATCH" ? { body: "{}" } : {}) });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET, HEAD", method);
    await res.arrayBuffer();
  }
  const head = await fetch(`${base}/`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "application/json");
  assert.equal(Number(head.headers.get("content-length")), Buffer.byteLength(docOf(ca)()));
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  for (const path of ["/bundle", "/keys", "//", "/.well-known/openid-configuration", "/index.html"]) {
    const res = await fetch(`${base}${path}`);
    assert.equal(res.status, 404, path);
    await res.arrayBuffer();
    const post = await fetch(`${base}${path}`, { method: "POST", body: "x" });
    assert.equal(post.status, 404, `POST ${path}`);
    await post.arrayBuffer();
  }
});

test("spiffe_sequence grows on prepare, activate, taint and revoke, for X.509 and JWT authorities", async () => {
  const { ca } = await newCa();
  const base = await plainServer(docOf(ca));
  const sequence = async () => ((await (await fetch(`${base}/`)).json()) as { spiffe_sequence: number }).spiffe_sequence;
  let last = await sequence();
  const grows = async (what: string, step: () => Promise<unknown>) => {
    await step();
    const now = await sequence();
    assert.ok(now > last, `${what}: ${now} > ${last}`);
    last = now;
  };
  for (const kind of ["x509", "jwt"] as const) {
    const first = kind === "x509" ? ca.show().x509[0]!.id : ca.show().jwt[0]!.kid;
    await grows(`${kind} prepare`, () => ca.prepare(kind));
    await grows(`${kind} activate`, () => {
      const p = ca.show()[kind].find((r) => r.state === "prepared")!;
      return ca.activate(kind, "kid" in p ? p.kid : p.id);
    });
    await grows(`${kind} taint`, () => ca.taint(kind, first));
    await grows(`${kind} revoke`, () => ca.revoke(kind, first));
  }
  const unchanged = await sequence();
  await ca.tick();
  assert.equal(await sequence(), unchanged, "a rotation pass that changes nothing keeps the sequence");
});

test("HA: replicas on one journal store serve the identical document once they have read each other", async () => {
  const store = createMemoryJournalStore();
  const clock = createFakeClock(Date.now());
  const a = (await newCa(store, "server-a", clock)).ca;
  const b = (await newCa(store, "server-b", clock)).ca;
  await a.refreshPeers();
  const docA = docOf(a);
  const docB = docOf(b);
  const sorted = (text: string) => {
    const d = JSON.parse(text) as { keys: { x5c?: string[]; kid?: string }[] };
    return { ...d, keys: d.keys.map((k) => JSON.stringify(k)).sort() };
  };
  assert.deepEqual(sorted(docA()), sorted(docB()));
  await b.prepare("x509");
  assert.notEqual(JSON.parse(docA()).spiffe_sequence, JSON.parse(docB()).spiffe_sequence, "a has not read b's change yet");
  await a.refreshPeers();
  assert.deepEqual(sorted(docA()), sorted(docB()));
  assert.equal(JSON.parse(docA()).keys.length, 5, "2 X.509 authorities of a+b, 1 prepared of b, 2 JWT keys");
});

/** Connects with TLS and returns the presented chain (DER, leaf first) and the negotiated protocol. */
function handshake(port: number, opts: { minVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3"; maxVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3"; ciphers?: string } = {}) {
  return new Promise<{ chain: Buffer[]; protocol: string | null }>((resolve, reject) => {
    const s: TLSSocket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...opts }, () => {
      const chain: Buffer[] = [];
      let c: PeerCertificate & { issuerCertificate?: PeerCertificate } = s.getPeerCertificate(true);
      while (c.raw !== undefined && !chain.some((d) => d.equals(c.raw))) {
        chain.push(c.raw);
        if (c.issuerCertificate === undefined) break;
        c = c.issuerCertificate;
      }
      const protocol = s.getProtocol();
      s.end();
      resolve({ chain, protocol });
    });
    s.once("error", reject);
  });
}

function spiffeBundleSet(ca: ManagedCertificateAuthority) {
  return createBundleSet([createBundle({ trustDomain: parseTrustDomain(TD), x509Authorities: ca.bundleContents().x509Authorities })]);
}

test("https_spiffe: the server's X509-SVID with exactly spiffe://<td>/spindle/server, renewed on rotation without a restart; TLS 1.1 refused", async () => {
  const { ca, clock } = await newCa();
  const svids = createServerSvidSource({ ca, spiffeId: SERVER_ID, clock, logger });
  const document = docOf(ca);
  const endpoint: BundleEndpoint = await startBundleEndpoint({
    config: { address: { host: "127.0.0.1", port: 0 }, refreshHintSeconds: 300, profile: { kind: "https_spiffe" } },
    document,
    serverSvid: svids,
    clock,
    logger,
  });
  closers.push(() => endpoint.close());
  closers.push(() => svids.close());
  const { port } = endpoint.address;

  const first = await handshake(port);
  const info = validateX509Svid(first.chain, spiffeBundleSet(ca), { now: Date.now() });
  assert.equal(info.spiffeId.toString(), SERVER_ID, "the exact endpoint SPIFFE ID");
  const issuerBefore = new X509Certificate(first.chain[0]!).issuer;

  // A client that pins the bundle (as an https_spiffe consumer does) reads the document over TLS.
  const body = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port, path: "/", ca: certsToPem(ca.bundleContents().x509Authorities), checkServerIdentity: () => undefined },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => resolve(text));
      },
    );
    req.once("error", reject);
    req.end();
  });
  assert.equal(body, document());

  // Rotation: the new CA signs a new server SVID, presented to the next handshake, same process.
  await ca.prepare("x509");
  const prepared = ca.show().x509.find((r) => r.state === "prepared")!;
  await ca.activate("x509", prepared.id);
  const second = await handshake(port);
  assert.ok(!second.chain[0]!.equals(first.chain[0]!), "a new leaf after the rotation");
  const infoAfter = validateX509Svid(second.chain, spiffeBundleSet(ca), { now: Date.now() });
  assert.equal(infoAfter.spiffeId.toString(), SERVER_ID);
  const issuerAfter = new X509Certificate(second.chain[0]!).issuer;
  assert.notEqual(issuerAfter, issuerBefore, "signed by the newly activated CA");
  const newCaCert = new X509Certificate(Buffer.from(prepared.certDer, "base64"));
  assert.ok(new X509Certificate(second.chain[0]!).checkIssued(newCaCert));

  // TLS 1.2 is accepted, TLS 1.1 is refused by the server (protocol version alert).
  const tls12 = await handshake(port, { minVersion: "TLSv1.2", maxVersion: "TLSv1.2" });
  assert.equal(tls12.protocol, "TLSv1.2");
  await assert.rejects(handshake(port, { minVersion: "TLSv1.1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" }), (err: Error) => {
    // The server's "protocol version" alert (70), not a client-side failure to offer TLS 1.1.
    assert.equal((err as NodeJS.ErrnoException).code, "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION", err.message);
    return true;
  });
});

function selfSigned(name: string): { cert: string; key: string } {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", `/CN=${name}`, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
  return { cert: certFile, key: keyFile };
}

const leafSubject = async (port: number) => new X509Certificate((await handshake(port)).chain[0]!).subject;

test("https_web: presents the configured certificate and re-reads the files when they are replaced on disk", async () => {
  const one = selfSigned("one");
  const two = selfSigned("two");
  const certFile = join(dir, "web.crt");
  const keyFile = join(dir, "web.key");
  writeFileSync(certFile, readFileSync(one.cert));
  writeFileSync(keyFile, readFileSync(one.key));
  const { ca } = await newCa();
  const clock = createFakeClock(Date.now());
  const endpoint = await startBundleEndpoint({
    config: { address: { host: "127.0.0.1", port: 0 }, refreshHintSeconds: 300, profile: { kind: "https_web", certFile, keyFile } },
    document: docOf(ca),
    clock,
    logger,
    certCheckIntervalMs: 50,
  });
  closers.push(() => endpoint.close());
  const { port } = endpoint.address;
  assert.equal(await leafSubject(port), "CN=one");
  // Replacements are renames, so each check sees a new file; every check runs inside advance().
  assert.equal(clock.pending(), 1, "the watcher has its next check scheduled");

  // A half-done replacement (new certificate, old key) does not load: the old pair stays.
  writeFileSync(join(dir, "tmp.crt"), readFileSync(two.cert));
  renameSync(join(dir, "tmp.crt"), certFile);
  clock.advance(300);
  assert.equal(await leafSubject(port), "CN=one", "a mismatched pair is not served");

  // The key follows: the new pair is served, without a restart.
  writeFileSync(join(dir, "tmp.key"), readFileSync(two.key));
  renameSync(join(dir, "tmp.key"), keyFile);
  clock.advance(49);
  assert.equal(await leafSubject(port), "CN=one", "not before the next check");
  clock.advance(1);
  assert.equal(await leafSubject(port), "CN=two", "the replaced pair is served without a restart");
});

test("https_web: unreadable files fail the start with the file named", async () => {
  const { ca } = await newCa();
  await assert.rejects(
    startBundleEndpoint({
      config: { address: { host: "127.0.0.1", port: 0 }, refreshHintSeconds: 300, profile: { kind: "https_web", certFile: join(dir, "missing.crt"), keyFile: join(dir, "missing.key") } },
      document: docOf(ca),
      clock: systemClock,
      logger,
    }),
    (err: Error & { code?: string }) => err.code === "ERR_SERVER_START" && err.message.includes("missing.crt"),
  );
});
