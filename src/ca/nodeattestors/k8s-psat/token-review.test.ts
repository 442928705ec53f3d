// k8s_psat with token_review: a fake Kubernetes API server on 127.0.0.1 over HTTPS (self-signed
// certificate made here) answers TokenReviews; the attestor must send the token, the configured
// audiences and its own bearer credential, and accept only an authenticated, matching verdict.
import assert from "node:assert/strict";
import { generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { SignJWT, type JWK } from "jose";
import { createSilentLogger, SpindleError } from "../../../common/index.js";
import { createFakeClock } from "../../../../test/support/fake-clock.js";
import { derToPem } from "../../../common/pem.js";
import { parseTrustDomain } from "../../../spiffe/index.js";
import * as agentSide from "../../../agent/nodeattestors/k8s-psat/index.js";
import { px } from "../../../../test/support/x509-checks.js";
import type { ChallengeFn } from "../plugin.js";
import { createK8sPsatAttestor, parseK8sPsatServerConfig, TOKEN_REVIEW_PATH } from "./index.js";

const TD = parseTrustDomain("example.org");
const NOW = Date.now();
const clock = createFakeClock(NOW);
const never: ChallengeFn = async () => assert.fail("k8s_psat never challenges");
const clusterKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
const JWKS = { keys: [{ ...(clusterKey.publicKey.export({ format: "jwk" }) as JWK), kid: "k1" }] };
const CREDENTIAL = "server-sa-credential-1";

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}
type Answer = (review: { spec: { token: string } }) => { status: number; body: unknown } | "hang";

/** A self-signed certificate for 127.0.0.1, built with @peculiar/x509. */
async function selfSigned(cn: string): Promise<{ certPem: string; keyPem: string }> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await px.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: "01",
      name: `CN=${cn}`,
      notBefore: new Date(NOW - 60_000),
      notAfter: new Date(NOW + 3600_000),
      keys,
      signingAlgorithm: alg,
      extensions: [new px.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }])],
    },
    webcrypto as never,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem: cert.toString("pem"), keyPem: derToPem(pkcs8, "PRIVATE KEY") };
}

let dir: string;
let api: Server;
let apiUrl: string;
const seen: Seen[] = [];
let answer: Answer;
const authenticatedAs =
  (username: string, audiences = ["spindle-server"]): Answer =>
  () => ({ status: 201, body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", status: { authenticated: true, user: { username, uid: "u1" }, audiences } } });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "psat-review-"));
  const tls = await selfSigned("fake-apiserver");
  writeFileSync(join(dir, "ca.pem"), tls.certPem);
  writeFileSync(join(dir, "token"), `${CREDENTIAL}\n`);
  writeFileSync(join(dir, "other-ca.pem"), (await selfSigned("someone-else")).certPem);
  api = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { spec: { token: string } };
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const a = answer(body);
      if (a === "hang") return;
      res.writeHead(a.status, { "content-type": "application/json" });
      res.end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
  apiUrl = `https://127.0.0.1:${(api.address() as AddressInfo).port}`;
});
after(() => {
  api.closeAllConnections();
  api.close();
  rmSync(dir, { recursive: true, force: true });
});

function plugin(review: Record<string, unknown> = {}, o: { timeoutMs?: number } = {}) {
  const config = parseK8sPsatServerConfig({
    clusters: {
      prod: {
        service_account_allow_list: ["spindle:spindle-agent"],
        audience: ["spindle-server", "spindle-alt"],
        jwks_path: "/unused",
        token_review: { api_server_url: apiUrl, ca_path: join(dir, "ca.pem"), token_path: join(dir, "token"), ...review },
      },
    },
  });
  return createK8sPsatAttestor({ trustDomain: TD, config, clock, logger: createSilentLogger(), jwks: { prod: JWKS }, tokenReviewTimeoutMs: o.timeoutMs });
}

async function psat(key: KeyObject = clusterKey.privateKey): Promise<string> {
  const iat = Math.floor(NOW / 1000) - 60;
  return new SignJWT({
    "kubernetes.io": { namespace: "spindle", pod: { name: "agent-x7", uid: "pod-1" }, serviceaccount: { name: "spindle-agent", uid: "sa-1" }, node: { name: "worker-1", uid: "node-uid-1" } },
  })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setSubject("system:serviceaccount:spindle:spindle-agent")
    .setAudience("spindle-server")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .sign(key);
}

async function attest(p: ReturnType<typeof plugin>, token: string, beforeCommit = async (_id: string) => {}) {
  const agent = agentSide.createK8sPsatAgentAttestor({ cluster: "prod", tokenPath: "/t", readToken: async () => token });
  return p.attest(await agent.payload(), never, beforeCommit);
}

const failedWith = (code: string, re: RegExp) => (err: unknown) => {
  assert.ok(SpindleError.is(err, code as never), `expected ${code}, got ${String(err)}`);
  assert.match(err.message, re);
  return true;
};
const SA = "system:serviceaccount:spindle:spindle-agent";

test("token_review: an authenticated, matching TokenReview attests; the request carries token, audiences and credential", async () => {
  seen.length = 0;
  answer = authenticatedAs(SA);
  const token = await psat();
  const r = await attest(plugin(), token);
  assert.equal(r.agentId, "spiffe://example.org/spindle/agent/k8s_psat/prod/node-uid-1");
  assert.equal(seen.length, 1);
  const req = seen[0]!;
  assert.equal(req.method, "POST");
  assert.equal(req.url, TOKEN_REVIEW_PATH);
  assert.equal(req.url, "/apis/authentication.k8s.io/v1/tokenreviews");
  assert.equal(req.headers.authorization, `Bearer ${CREDENTIAL}`);
  assert.equal(req.headers["content-type"], "application/json");
  assert.deepEqual(req.body, { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: ["spindle-server", "spindle-alt"] } });
});

test("token_review: the credential file is read again on every review (rotated tokens)", async () => {
  seen.length = 0;
  answer = authenticatedAs(SA);
  const p = plugin();
  await attest(p, await psat());
  writeFileSync(join(dir, "token"), "rotated-credential-2");
  try {
    await attest(p, await psat());
  } finally {
    writeFileSync(join(dir, "token"), `${CREDENTIAL}\n`);
  }
  assert.deepEqual(
    seen.map((s) => s.headers.authorization),
    [`Bearer ${CREDENTIAL}`, "Bearer rotated-credential-2"],
  );
});

test("token_review: authenticated:false rejects the attestation with the API server's reason", async () => {
  answer = () => ({ status: 201, body: { kind: "TokenReview", status: { authenticated: false, error: "pod agent-x7 not found" } } });
  await assert.rejects(attest(plugin(), await psat()), failedWith("ERR_NODE_ATTESTATION_FAILED", /TokenReview: the API server rejected the token \(pod agent-x7 not found\)/));
});

test("token_review: a username other than the token's service account is rejected", async () => {
  answer = authenticatedAs("system:serviceaccount:kube-system:default");
  await assert.rejects(attest(plugin(), await psat()), failedWith("ERR_NODE_ATTESTATION_FAILED", /authenticated the token as "system:serviceaccount:kube-system:default", not "system:serviceaccount:spindle:spindle-agent"/));
  answer = authenticatedAs(SA, ["kubernetes"]);
  await assert.rejects(attest(plugin(), await psat()), failedWith("ERR_NODE_ATTESTATION_FAILED", /none of the configured audiences/));
});

test("token_review: an unreachable, untrusted, slow or refusing API server rejects with ERR_UNAVAILABLE naming the cause", async () => {
  answer = authenticatedAs(SA);
  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const deadUrl = `https://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((r) => probe.close(() => r()));
  await assert.rejects(attest(plugin({ api_server_url: deadUrl }), await psat()), failedWith("ERR_UNAVAILABLE", /TokenReview could not be performed: the API server https:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED/));

  await assert.rejects(attest(plugin({ ca_path: join(dir, "other-ca.pem") }), await psat()), failedWith("ERR_UNAVAILABLE", /is unreachable \(.*(SELF_SIGNED|certificate)/i));

  answer = () => "hang";
  await assert.rejects(attest(plugin({}, { timeoutMs: 300 }), await psat()), failedWith("ERR_UNAVAILABLE", /is unreachable \(no answer within 300 ms\)/));

  answer = () => ({ status: 403, body: { kind: "Status", message: "tokenreviews.authentication.k8s.io is forbidden" } });
  await assert.rejects(attest(plugin(), await psat()), failedWith("ERR_UNAVAILABLE", /refused the request with HTTP 403 \(check token_review\.token_path.*forbidden/));

  answer = () => ({ status: 201, body: { kind: "Status" } });
  await assert.rejects(attest(plugin(), await psat()), failedWith("ERR_UNAVAILABLE", /unreadable answer/));

  await assert.rejects(attest(plugin({ token_path: join(dir, "missing") }), await psat()), failedWith("ERR_UNAVAILABLE", /cannot read token_review token_path/));
});

test("token_review: a token that fails local checks, or a refusal in beforeCommit, never reaches the API server", async () => {
  seen.length = 0;
  answer = authenticatedAs(SA);
  const rogue = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  await assert.rejects(attest(plugin(), await psat(rogue)), failedWith("ERR_NODE_ATTESTATION_FAILED", /signature/));
  await assert.rejects(
    attest(plugin(), await psat(), async () => {
      throw new SpindleError("ERR_RESOURCE_EXHAUSTED", "slow down");
    }),
    (err) => SpindleError.is(err, "ERR_RESOURCE_EXHAUSTED"),
  );
  assert.equal(seen.length, 0);
});

test("token_review: an unreadable ca_path fails at creation with ERR_CONFIG_READ", () => {
  assert.throws(() => plugin({ ca_path: join(dir, "nope.pem") }), failedWith("ERR_CONFIG_READ", /cluster "prod": cannot read token_review ca_path/));
});
