import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SignJWT, type JSONWebKeySet, type JWK } from "jose";
import { createSilentLogger, SpindleError } from "../../../common/index.js";
import { createFakeClock } from "../../../../test/support/fake-clock.js";
import { parseTrustDomain, selectorProblem } from "../../../spiffe/index.js";
import * as agentSide from "../../../agent/nodeattestors/k8s-psat/index.js";
import type { ChallengeFn } from "../plugin.js";
import { createK8sPsatAttestor, parseK8sPsatServerConfig, type FetchFn } from "./index.js";

const TD = parseTrustDomain("example.org");
const NOW = Date.UTC(2026, 3, 1);
const clock = createFakeClock(NOW);
const never: ChallengeFn = async () => assert.fail("k8s_psat never challenges");
const ok = async () => {};
const ISSUER = "https://kubernetes.default.svc.cluster.local";

const clusterKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwks = (key: KeyObject, kid: string): JSONWebKeySet => ({ keys: [{ ...(key.export({ format: "jwk" }) as JWK), kid, alg: "ES256", use: "sig" }] });
const CLUSTER_JWKS = jwks(clusterKey.publicKey, "k1");

interface TokenOptions {
  aud?: string[];
  expSeconds?: number;
  key?: KeyObject;
  kid?: string;
  sa?: string;
  node?: { name: string; uid?: string } | null;
}

async function psat(o: TokenOptions = {}): Promise<string> {
  const iat = Math.floor(NOW / 1000) - 60;
  const sa = o.sa ?? "spindle-agent";
  const k8s: Record<string, unknown> = {
    namespace: "spindle",
    pod: { name: "agent-x7", uid: "3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d" },
    serviceaccount: { name: sa, uid: "sa-uid-1" },
  };
  if (o.node !== null) k8s["node"] = o.node ?? { name: "worker-1", uid: "5f0c6a2e-0b1c-4d2e-8f3a-4b5c6d7e8f90" };
  return new SignJWT({ "kubernetes.io": k8s })
    .setProtectedHeader({ alg: "ES256", kid: o.kid ?? "k1" })
    .setIssuer(ISSUER)
    .setSubject(`system:serviceaccount:spindle:${sa}`)
    .setAudience(o.aud ?? ["spindle-server"])
    .setIssuedAt(iat)
    .setExpirationTime(iat + (o.expSeconds ?? 3600))
    .sign(o.key ?? clusterKey.privateKey);
}

const config = (extra: Record<string, unknown> = {}) =>
  parseK8sPsatServerConfig({ clusters: { prod: { service_account_allow_list: ["spindle:spindle-agent"], jwks_path: "/unused", issuer: ISSUER, ...extra } } });

function plugin(jwksByCluster: Record<string, JSONWebKeySet> = { prod: CLUSTER_JWKS }, extra: Record<string, unknown> = {}) {
  return createK8sPsatAttestor({ trustDomain: TD, config: config(extra), clock, logger: createSilentLogger(), jwks: jwksByCluster });
}

async function attest(p: ReturnType<typeof plugin>, token: string, cluster = "prod") {
  const agent = agentSide.createK8sPsatAgentAttestor({ cluster, tokenPath: "/token", readToken: async () => `${token}\n` });
  return p.attest(await agent.payload(), never, ok);
}

const failedWith = (re: RegExp) => (err: unknown) => SpindleError.is(err, "ERR_NODE_ATTESTATION_FAILED") && re.test(err.message);

test("k8s_psat: a valid token yields the node's agent ID and the pod's selectors", async () => {
  const r = await attest(plugin(), await psat());
  assert.equal(r.agentId, "spiffe://example.org/spindle/agent/k8s_psat/prod/5f0c6a2e-0b1c-4d2e-8f3a-4b5c6d7e8f90");
  assert.equal(r.canReattest, true);
  const values = r.selectors.map((s) => `${s.type}:${s.value}`);
  for (const v of ["cluster:prod", "agent_ns:spindle", "agent_sa:spindle-agent", "agent_pod_name:agent-x7", "agent_node_name:worker-1", "agent_pod_uid:3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d"]) {
    assert.ok(values.includes(`k8s_psat:${v}`), `${v} in ${values.join(" ")}`);
  }
  // Every selector emitted is one entry validation accepts (src/spiffe/selector-schema.ts).
  assert.deepEqual(r.selectors.map(selectorProblem).filter((p) => p !== undefined), []);
});

test("k8s_psat: without a node uid the node name identifies the agent; without node claims it is refused", async () => {
  const r = await attest(plugin(), await psat({ node: { name: "worker-2" } }));
  assert.equal(r.agentId, "spiffe://example.org/spindle/agent/k8s_psat/prod/worker-2");
  await assert.rejects(attest(plugin(), await psat({ node: null })), failedWith(/node claim/));
});

test("k8s_psat: wrong audience, expired token, unknown key, wrong cluster and foreign service account are refused", async () => {
  await assert.rejects(attest(plugin(), await psat({ aud: ["kubernetes"] })), failedWith(/aud/));
  await assert.rejects(attest(plugin(), await psat({ expSeconds: 30 })), failedWith(/expired/));
  const rogue = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  await assert.rejects(attest(plugin(), await psat({ key: rogue, kid: "k9" })), failedWith(/signing key is not among/));
  await assert.rejects(attest(plugin(), await psat({ key: rogue })), failedWith(/signature/));
  await assert.rejects(attest(plugin(), await psat(), "staging"), failedWith(/not configured/));
  await assert.rejects(attest(plugin(), await psat({ sa: "default" })), failedWith(/allow_list/));
});

test("k8s_psat: a token signed for another cluster does not verify against this cluster's keys", async () => {
  const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const p = createK8sPsatAttestor({
    trustDomain: TD,
    config: parseK8sPsatServerConfig({
      clusters: {
        prod: { service_account_allow_list: ["spindle:spindle-agent"], jwks_path: "/unused" },
        edge: { service_account_allow_list: ["spindle:spindle-agent"], jwks_path: "/unused" },
      },
    }),
    clock,
    logger: createSilentLogger(),
    jwks: { prod: CLUSTER_JWKS, edge: jwks(otherKey.publicKey, "k1") },
  });
  await assert.rejects(attest(p, await psat(), "edge"), failedWith(/cluster "edge"/));
});

test("k8s_psat: keys from a jwks_path file and from the issuer's discovery document", async () => {
  const dir = mkdtempSync(join(tmpdir(), "psat-"));
  writeFileSync(join(dir, "jwks.json"), JSON.stringify(CLUSTER_JWKS));
  const fromFile = createK8sPsatAttestor({
    trustDomain: TD,
    config: parseK8sPsatServerConfig({ clusters: { prod: { service_account_allow_list: ["spindle:spindle-agent"], jwks_path: join(dir, "jwks.json") } } }),
    clock,
    logger: createSilentLogger(),
  });
  assert.match((await attest(fromFile, await psat())).agentId, /prod\/5f0c6a2e-0b1c-4d2e-8f3a-4b5c6d7e8f90$/);

  const http = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(CLUSTER_JWKS));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  const asked: string[] = [];
  const fetchFn: FetchFn = async (url) => {
    asked.push(url);
    return { ok: true, status: 200, json: async () => ({ issuer: ISSUER, jwks_uri: `http://127.0.0.1:${port}/openid/v1/jwks` }) };
  };
  try {
    const discovered = createK8sPsatAttestor({
      trustDomain: TD,
      config: parseK8sPsatServerConfig({ clusters: { prod: { service_account_allow_list: ["spindle:spindle-agent"], issuer_url: ISSUER } } }),
      clock,
      logger: createSilentLogger(),
      fetch: fetchFn,
    });
    assert.match((await attest(discovered, await psat())).agentId, /prod\/5f0c6a2e-0b1c-4d2e-8f3a-4b5c6d7e8f90$/);
    assert.deepEqual(asked, [`${ISSUER}/.well-known/openid-configuration`]);
  } finally {
    http.close();
  }
});

test("k8s_psat: the configured issuer is enforced", async () => {
  const p = plugin({ prod: CLUSTER_JWKS }, { issuer: "https://other.example" });
  await assert.rejects(attest(p, await psat()), failedWith(/iss/));
});

test("k8s_psat config: every problem at once; token_review is validated", () => {
  assert.throws(
    () =>
      parseK8sPsatServerConfig({
        clusters: {
          "bad/name": { service_account_allow_list: ["nocolon"], jwks_path: "/a", issuer_url: "http://x", token_review: { api_server_url: "ftp://x", extra: 1 } },
          ok: { audience: [] },
        },
        other: true,
      }),
    (err) => {
      const problems = (err as SpindleError).details["problems"] as string[];
      const expected = ["other: unknown key", "cluster name", "nocolon", "issuer_url: must be an https", "exactly one of jwks_path and issuer_url", "api_server_url: must be an https", "token_review.extra: unknown key", "ok.service_account_allow_list: required", "ok.audience: must not be empty"];
      for (const e of expected) assert.ok(problems.some((p) => p.includes(e)), `${e} in\n${problems.join("\n")}`);
      return true;
    },
  );
  assert.throws(() => parseK8sPsatServerConfig({ clusters: {} }), /at least one cluster/);
  const c = parseK8sPsatServerConfig({
    clusters: { prod: { service_account_allow_list: ["spindle:agent"], issuer_url: ISSUER, token_review: { api_server_url: "https://10.0.0.1:6443" } } },
  });
  assert.deepEqual(c.clusters[0]!.audience, ["spindle-server"]);
  assert.equal(c.clusters[0]!.issuer, ISSUER);
  assert.equal(c.clusters[0]!.tokenReview?.apiServerUrl, "https://10.0.0.1:6443");
});

test("k8s_psat agent side: config defaults, unreadable token file, malformed payloads", async () => {
  const c = agentSide.parseK8sPsatAgentConfig({ cluster: "prod" });
  assert.equal(c.tokenPath, agentSide.DEFAULT_PSAT_TOKEN_PATH);
  assert.throws(() => agentSide.parseK8sPsatAgentConfig({ token_path: 3 }), (err) => ((err as SpindleError).details["problems"] as string[]).length === 2);
  const agent = agentSide.createK8sPsatAgentAttestor({ cluster: "prod", tokenPath: "/nonexistent/token" });
  await assert.rejects(agent.payload(), (err) => SpindleError.is(err, "ERR_CONFIG_READ"));
  for (const bad of ["{}", '{"cluster":"prod"}', "x"]) {
    await assert.rejects(plugin().attest(Buffer.from(bad), never, ok), (err) => SpindleError.is(err, "ERR_NODE_ATTESTATION_PROTOCOL"), bad);
  }
  await assert.rejects(attest(plugin(), "not.a.jwt"), (err) => SpindleError.is(err, "ERR_NODE_ATTESTATION_FAILED"));
});
