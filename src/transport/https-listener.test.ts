// The public listener over real sockets on 127.0.0.1: methods, paths, the Host allow-list,
// /live and /ready, and TLS files replaced while it runs.
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import { after, before, test } from "node:test";
import { createFakeClock } from "../../test/support/fake-clock.js";
import { SpindleError } from "../common/errors.js";
import { createSilentLogger } from "../common/logger.js";
import { hostOf, startPublicListener, type PublicListener, type PublicListenerOptions } from "./https-listener.js";
import { createTestCa, type TestCa } from "../../test/support/tls-test-ca.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  certSerial?: string;
}

function call(l: PublicListener, opts: { method?: string; path: string; host?: string; ca?: string }): Promise<Reply> {
  const req = (l.scheme === "https" ? httpsRequest : httpRequest)({
    host: "127.0.0.1",
    port: l.address.port,
    method: opts.method ?? "GET",
    path: opts.path,
    headers: { host: opts.host ?? `localhost:${l.address.port}` },
    agent: false,
    ...(l.scheme === "https" ? { ca: opts.ca, servername: "localhost" } : {}),
  });
  return new Promise((resolve, reject) => {
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const sock = res.socket as TLSSocket;
        const certSerial = typeof sock.getPeerCertificate === "function" ? sock.getPeerCertificate().serialNumber : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), ...(certSerial ? { certSerial } : {}) });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

let ca: TestCa;
let tlsFiles: { certFile: string; keyFile: string };
let isReady = false;
const open: PublicListener[] = [];

const base = (over: Partial<PublicListenerOptions> = {}): PublicListenerOptions => ({
  address: { host: "127.0.0.1", port: 0 },
  tls: tlsFiles,
  routes: { "/doc": () => ({ status: 200, headers: { "content-type": "application/json" }, body: '{"a":1}' }) },
  ready: () => (isReady ? { ready: true } : { ready: false, reason: "no keys yet" }),
  name: "test endpoint",
  startErrorCode: "ERR_SERVER_START",
  clock: createFakeClock(),
  logger: createSilentLogger(),
  ...over,
});
const start = async (over: Partial<PublicListenerOptions> = {}) => {
  const l = await startPublicListener(base(over));
  open.push(l);
  return l;
};

before(() => {
  ca = createTestCa();
  const first = ca.issue("first", ["localhost", "127.0.0.1"]);
  tlsFiles = { certFile: `${ca.dir}/live.pem`, keyFile: `${ca.dir}/live.key` };
  copyFileSync(first.certFile, tlsFiles.certFile);
  copyFileSync(first.keyFile, tlsFiles.keyFile);
});
after(async () => {
  for (const l of open) await l.close();
  ca.cleanup();
});

test("GET serves the route over HTTPS; HEAD gets the same headers and no body", async () => {
  const l = await start();
  assert.equal(l.scheme, "https");
  const get = await call(l, { path: "/doc?x=1", ca: ca.caPem });
  assert.equal(get.status, 200);
  assert.equal(get.body, '{"a":1}');
  assert.equal(get.headers["content-type"], "application/json");
  const head = await call(l, { method: "HEAD", path: "/doc", ca: ca.caPem });
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
  assert.equal(head.headers["content-length"], String(Buffer.byteLength('{"a":1}')));
});

test("other methods get 405 with Allow; unknown paths 404; a client without the CA is refused", async () => {
  const l = await start();
  for (const method of ["POST", "PUT", "DELETE"]) {
    const r = await call(l, { method, path: "/doc", ca: ca.caPem });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, "GET, HEAD");
  }
  assert.equal((await call(l, { path: "/nope", ca: ca.caPem })).status, 404);
  assert.equal((await call(l, { path: "/doc/", ca: ca.caPem })).status, 404);
  await assert.rejects(call(l, { path: "/doc" }), /self-signed|unable to verify|certificate/i);
});

test("a Host outside the allow-list gets 400; /live and /ready are exempt", async () => {
  const l = await start({ allowedHosts: ["oidc.example.org"] });
  assert.equal((await call(l, { path: "/doc", host: "oidc.example.org", ca: ca.caPem })).status, 200);
  assert.equal((await call(l, { path: "/doc", host: "OIDC.example.org:8443", ca: ca.caPem })).status, 200);
  const bad = await call(l, { path: "/doc", host: "evil.example.com", ca: ca.caPem });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /evil\.example\.com/);
  assert.equal((await call(l, { path: "/doc", host: "oidc.example.org.evil.com", ca: ca.caPem })).status, 400);
  assert.equal((await call(l, { path: "/live", host: "10.0.0.7:8443", ca: ca.caPem })).status, 200);
});

test("/live is 200 at once; /ready follows ready()", async () => {
  const l = await start();
  isReady = false;
  assert.equal((await call(l, { path: "/live", ca: ca.caPem })).status, 200);
  const notYet = await call(l, { path: "/ready", ca: ca.caPem });
  assert.equal(notYet.status, 503);
  assert.match(notYet.body, /no keys yet/);
  isReady = true;
  assert.equal((await call(l, { path: "/ready", ca: ca.caPem })).status, 200);
});

test("replaced cert/key files are served on the next check; a broken replacement keeps the old pair", async () => {
  const clock = createFakeClock();
  const l = await start({ clock, tlsReloadIntervalMs: 1000 });
  const before = await call(l, { path: "/doc", ca: ca.caPem });
  const second = ca.issue("second", ["localhost"]);
  copyFileSync(second.certFile, tlsFiles.certFile);
  copyFileSync(second.keyFile, tlsFiles.keyFile);
  clock.advance(1000); // the periodic check installs the new pair
  const afterSwap = await call(l, { path: "/doc", ca: ca.caPem });
  assert.notEqual(afterSwap.certSerial, before.certSerial);
  // A key that does not match the certificate is refused; the second pair stays.
  copyFileSync(ca.issue("third", ["localhost"]).keyFile, tlsFiles.keyFile);
  assert.equal(l.reloadTls(), false);
  assert.equal((await call(l, { path: "/doc", ca: ca.caPem })).certSerial, afterSwap.certSerial);
  copyFileSync(second.keyFile, tlsFiles.keyFile);
  assert.equal(l.reloadTls(), false, "unchanged pair: nothing to install");
});

test("start rejects with the start error code on unusable TLS files, and in use ports", async () => {
  writeFileSync(`${ca.dir}/garbage.pem`, "not a certificate");
  await assert.rejects(start({ tls: { certFile: `${ca.dir}/garbage.pem`, keyFile: tlsFiles.keyFile } }), (e: unknown) => {
    assert.ok(e instanceof SpindleError);
    assert.equal(e.code, "ERR_SERVER_START");
    assert.match(e.message, /garbage\.pem/);
    return true;
  });
  await assert.rejects(start({ tls: { certFile: tlsFiles.certFile, keyFile: `${ca.dir}/missing.key` } }), /missing\.key/);
  const l = await start();
  await assert.rejects(start({ address: l.address }), (e: unknown) => e instanceof SpindleError && /cannot listen/.test(e.message));
});

test("plain HTTP when no TLS files are given", async () => {
  const l = await start({ tls: undefined });
  assert.equal(l.scheme, "http");
  assert.equal((await call(l, { path: "/doc" })).status, 200);
});

test("hostOf takes the host of a Host header and rejects anything else", () => {
  assert.equal(hostOf("Example.ORG:443"), "example.org");
  assert.equal(hostOf("example.org."), "example.org");
  assert.equal(hostOf("[::1]:8443"), "::1");
  assert.equal(hostOf("a b"), undefined);
  assert.equal(hostOf("user@host"), undefined);
  assert.equal(hostOf(undefined), undefined);
});
