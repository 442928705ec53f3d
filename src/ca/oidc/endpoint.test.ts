// The OIDC endpoint on a real HTTPS socket (test CA made with openssl) over a key source the test
// controls: document contents, headers, 503 before the first key, path prefix, set_key_use, the
// Host allow-list, methods and unknown paths, and the insecure-mode warning.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { after, before, test } from "node:test";
import { Writable } from "node:stream";
import { calculateJwkThumbprint, importJWK, SignJWT, jwtVerify, createLocalJWKSet, type JWK } from "jose";
import { createLogger, createSilentLogger, type Logger } from "../../common/index.js";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import { createTestCa, type TestCa } from "../../../test/support/tls-test-ca.js";
import { startOidcEndpoint, type JwtAuthorityKey, type OidcEndpoint, type OidcOptions } from "./index.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let ca: TestCa;
let tls: { certFile: string; keyFile: string };
const open: OidcEndpoint[] = [];
let keys: JwtAuthorityKey[] = [];
const source = { bundleContents: () => ({ jwtAuthorities: keys }) };

const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pubJwk = (k: typeof ec.publicKey) => k.export({ format: "jwk" }) as Record<string, unknown>;
const authority = async (k: typeof ec.publicKey): Promise<JwtAuthorityKey> => ({ kid: await calculateJwkThumbprint(pubJwk(k) as JWK), publicKeyJwk: pubJwk(k) });

function call(e: OidcEndpoint, path: string, o: { method?: string; host?: string; insecure?: boolean; headers?: Record<string, string> } = {}): Promise<Reply> {
  const req = (o.insecure ? httpRequest : httpsRequest)({
    host: "127.0.0.1",
    port: e.address.port,
    method: o.method ?? "GET",
    path,
    headers: { host: o.host ?? "oidc.example.org", ...o.headers },
    agent: false,
    ...(o.insecure ? {} : { ca: ca.caPem, servername: "localhost" }),
  });
  return new Promise((resolve, reject) => {
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

const options = (over: Partial<OidcOptions> = {}): OidcOptions => ({
  address: { host: "127.0.0.1", port: 0 },
  tls,
  insecureHttp: false,
  issuer: "https://oidc.example.org",
  pathPrefix: "/",
  setKeyUse: false,
  domains: ["oidc.example.org"],
  ...over,
});
async function start(over: Partial<OidcOptions> = {}, logger: Logger = createSilentLogger()): Promise<OidcEndpoint> {
  const e = await startOidcEndpoint(options(over), { keys: source, clock: createFakeClock(), logger });
  open.push(e);
  return e;
}

before(() => {
  ca = createTestCa();
  tls = ca.issue("oidc", ["localhost", "127.0.0.1"]);
});
after(async () => {
  for (const e of open) await e.close();
  ca.cleanup();
});

test("before the first key: 503 with a clear body on both documents, /ready 503, /live 200", async () => {
  keys = [];
  const e = await start();
  for (const p of ["/.well-known/openid-configuration", "/keys"]) {
    const r = await call(e, p);
    assert.equal(r.status, 503, p);
    assert.match(r.body, /no JWT authority yet/);
  }
  assert.equal((await call(e, "/ready")).status, 503);
  assert.equal((await call(e, "/live")).status, 200);
  keys = [await authority(ec.publicKey)];
  assert.equal((await call(e, "/ready")).status, 200);
});

test("discovery document and JWKS: fields, algorithms, headers, public members only", async () => {
  keys = [await authority(ec.publicKey), await authority(rsa.publicKey)];
  const e = await start();
  const d = await call(e, "/.well-known/openid-configuration");
  assert.equal(d.status, 200);
  assert.deepEqual(JSON.parse(d.body), {
    issuer: "https://oidc.example.org",
    jwks_uri: "https://oidc.example.org/keys",
    authorization_endpoint: "",
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["ES256", "RS256"],
  });
  const k = await call(e, "/keys");
  assert.equal(k.status, 200);
  for (const r of [d, k]) {
    assert.equal(r.headers["cache-control"], "no-cache, no-store, must-revalidate");
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.equal(r.headers["content-type"], "application/json");
  }
  const jwks = JSON.parse(k.body) as { keys: Record<string, unknown>[] };
  assert.deepEqual(
    jwks.keys.map((x) => Object.keys(x).sort()),
    [
      ["alg", "crv", "kid", "kty", "x", "y"],
      ["alg", "e", "kid", "kty", "n"],
    ],
  );
  assert.deepEqual(jwks.keys.map((x) => [x.kid, x.alg, x.kty]), [
    [keys[0]!.kid, "ES256", "EC"],
    [keys[1]!.kid, "RS256", "RSA"],
  ]);
  assert.ok(jwks.keys.every((x) => x.use === undefined), "no use without set_key_use");
  // The published keys verify tokens of the private keys behind them.
  const token = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: keys[1]!.kid }).setSubject("spiffe://example.org/w").sign(rsa.privateKey);
  await jwtVerify(token, createLocalJWKSet(jwks as never));
  await importJWK(jwks.keys[0] as JWK, "ES256");
});

test("set_key_use adds use: sig to every key", async () => {
  keys = [await authority(ec.publicKey), await authority(rsa.publicKey)];
  const e = await start({ setKeyUse: true });
  const jwks = JSON.parse((await call(e, "/keys")).body) as { keys: Record<string, unknown>[] };
  assert.deepEqual(jwks.keys.map((x) => x.use), ["sig", "sig"]);
});

test("path prefix: documents under the issuer's path, nothing at the root", async () => {
  keys = [await authority(ec.publicKey)];
  const e = await start({ issuer: "https://oidc.example.org/tenant-a/", pathPrefix: "/tenant-a" });
  const d = await call(e, "/tenant-a/.well-known/openid-configuration");
  assert.equal(d.status, 200);
  const doc = JSON.parse(d.body) as Record<string, string>;
  assert.equal(doc.issuer, "https://oidc.example.org/tenant-a/", "the issuer string exactly as configured");
  assert.equal(doc.jwks_uri, "https://oidc.example.org/tenant-a/keys");
  assert.equal((await call(e, "/tenant-a/keys")).status, 200);
  assert.equal((await call(e, "/.well-known/openid-configuration")).status, 404);
  assert.equal((await call(e, "/keys")).status, 404);
});

test("Host allow-list: a Host outside it gets 400; URLs never come from Host or X-Forwarded-Host", async () => {
  keys = [await authority(ec.publicKey)];
  const e = await start({ domains: ["oidc.example.org", "oidc.internal"] });
  assert.equal((await call(e, "/keys", { host: "attacker.example" })).status, 400);
  assert.equal((await call(e, "/.well-known/openid-configuration", { host: "attacker.example" })).status, 400);
  const internal = await call(e, "/.well-known/openid-configuration", {
    host: "oidc.internal:8443",
    headers: { "x-forwarded-host": "attacker.example", "x-forwarded-proto": "http" },
  });
  assert.equal(internal.status, 200);
  const doc = JSON.parse(internal.body) as Record<string, string>;
  assert.equal(doc.issuer, "https://oidc.example.org");
  assert.equal(doc.jwks_uri, "https://oidc.example.org/keys");
});

test("HEAD answers like GET, same status and headers, without a body", async () => {
  keys = [await authority(ec.publicKey)];
  const e = await start();
  for (const p of ["/keys", "/.well-known/openid-configuration"]) {
    const [get, head] = [await call(e, p), await call(e, p, { method: "HEAD" })];
    assert.equal(head.status, 200, p);
    assert.equal(head.body, "");
    assert.equal(head.headers["content-length"], String(Buffer.byteLength(get.body)));
    assert.equal(head.headers["cache-control"], "no-cache, no-store, must-revalidate");
    assert.equal(head.headers["access-control-allow-origin"], "*");
  }
  keys = [];
  assert.equal((await call(e, "/keys", { method: "HEAD" })).status, 503, "HEAD says 503 before the first key too");
});

test("POST (and any other method) on a document gets 405 with Allow: GET, HEAD", async () => {
  keys = [await authority(ec.publicKey)];
  const e = await start();
  for (const [method, p] of [["POST", "/.well-known/openid-configuration"], ["POST", "/keys"], ["PUT", "/keys"], ["DELETE", "/keys"], ["OPTIONS", "/keys"]] as const) {
    const r = await call(e, p, { method });
    assert.equal(r.status, 405, `${method} ${p}`);
    assert.equal(r.headers.allow, "GET, HEAD");
  }
});

test("unknown paths get 404, also near misses of the two documents", async () => {
  keys = [await authority(ec.publicKey)];
  const e = await start();
  for (const p of ["/", "/jwks", "/.well-known/jwks.json", "/keys/extra", "/.well-known/openid-configuration/", "/KEYS"]) {
    assert.equal((await call(e, p)).status, 404, p);
  }
  assert.equal((await call(e, "/nope", { method: "POST" })).status, 404, "POST to an unknown path is 404, not 405");
});

test("insecure_http serves plain HTTP and logs a warning saying so", async () => {
  keys = [await authority(ec.publicKey)];
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ level: "info", destination: sink });
  const e = await start({ tls: undefined, insecureHttp: true }, logger);
  assert.equal((await call(e, "/keys", { insecure: true })).status, 200);
  const warn = lines.find((l) => l.level === "warn" && /plain HTTP/.test(String(l.msg)));
  assert.ok(warn, `no insecure warning in ${JSON.stringify(lines)}`);
  assert.equal(warn.component, "oidc");
});
