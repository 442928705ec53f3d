// k8s_psat node attestor: the agent presents a projected service-account token of its pod; the
// server verifies it (signature against the cluster's keys, audience, expiry, issuer) with jose
// and derives node selectors from the `kubernetes.io` claims. With token_review configured the
// cluster's API server must also still accept the token (token-review.ts).
// Agent ID: spiffe://<td>/spindle/agent/k8s_psat/<cluster>/<node uid, or node name>.
import { errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Clock } from "../../../common/clock.js";
import { SpindleError, spindleError } from "../../../common/errors.js";
import type { Logger } from "../../../common/logger.js";
import { selectorOf, spiffeIdFromParts, type Selector, type SelectorKey, type TrustDomain } from "../../../spiffe/index.js";
import { attestationFailed, decodeJsonPayload } from "../config.js";
import type { NodeAttestorPlugin } from "../plugin.js";
import { K8S_PSAT_PLUGIN, type K8sPsatClusterConfig, type K8sPsatServerConfig } from "./config.js";
import { createClusterKeySource, type FetchFn } from "./key-source.js";
import { createTokenReviewer, type TokenReviewer } from "./token-review.js";

const ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"];
const CLOCK_TOLERANCE_SECONDS = 5;
const MAX_TOKEN_LENGTH = 16 * 1024;

export interface K8sPsatAttestorOptions {
  trustDomain: TrustDomain;
  config: K8sPsatServerConfig;
  clock: Clock;
  logger: Logger;
  /** Used for OIDC discovery; default globalThis.fetch. */
  fetch?: FetchFn;
  /** Preloaded JWK Sets by cluster name (tests); otherwise read from jwks_path or discovered. */
  jwks?: Readonly<Record<string, JSONWebKeySet>>;
  /** TokenReview request timeout; default DEFAULT_TOKEN_REVIEW_TIMEOUT_MS. */
  tokenReviewTimeoutMs?: number;
}

interface K8sClaims {
  namespace?: unknown;
  pod?: { name?: unknown; uid?: unknown };
  serviceaccount?: { name?: unknown; uid?: unknown };
  node?: { name?: unknown; uid?: unknown };
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function reason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "the token has expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim "${err.claim}" check failed: ${err.reason}`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return "the token's signing key is not among the cluster's keys";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "the token's algorithm is not allowed";
  if (err instanceof joseErrors.JOSEError) return `the token is invalid (${err.code})`;
  return (err as Error).message;
}

export function createK8sPsatAttestor(options: K8sPsatAttestorOptions): NodeAttestorPlugin {
  const fetchFn: FetchFn = options.fetch ?? ((url) => fetch(url));
  const clusters = new Map<string, { config: K8sPsatClusterConfig; keys: JWTVerifyGetKey; reviewer?: TokenReviewer }>();
  for (const c of options.config.clusters) {
    const reviewer = c.tokenReview === undefined ? undefined : createTokenReviewer({ cluster: c.name, config: c.tokenReview, timeoutMs: options.tokenReviewTimeoutMs });
    clusters.set(c.name, { config: c, keys: createClusterKeySource(c, fetchFn, options.jwks?.[c.name]), ...(reviewer === undefined ? {} : { reviewer }) });
  }

  /** The API server must still authenticate the token as the same service account. */
  async function review(cluster: K8sPsatClusterConfig, reviewer: TokenReviewer, token: string, username: string): Promise<void> {
    const status = await reviewer.review(token, cluster.audience);
    const where = `cluster "${cluster.name}": TokenReview`;
    if (!status.authenticated) throw attestationFailed(K8S_PSAT_PLUGIN, `${where}: the API server rejected the token${status.error === undefined ? "" : ` (${status.error})`}`);
    if (status.username !== username) {
      throw attestationFailed(K8S_PSAT_PLUGIN, `${where}: the API server authenticated the token as ${JSON.stringify(status.username ?? "")}, not ${JSON.stringify(username)}`);
    }
    if (status.audiences !== undefined && !status.audiences.some((a) => cluster.audience.includes(a))) {
      throw attestationFailed(K8S_PSAT_PLUGIN, `${where}: the API server accepted the token for none of the configured audiences`);
    }
  }

  async function verify(cluster: K8sPsatClusterConfig, keys: JWTVerifyGetKey, token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, keys, {
        algorithms: ALGORITHMS,
        audience: [...cluster.audience],
        ...(cluster.issuer === undefined ? {} : { issuer: cluster.issuer }),
        currentDate: new Date(options.clock.now()),
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp", "sub"],
      });
      return payload;
    } catch (err) {
      if (err instanceof SpindleError) throw err;
      throw attestationFailed(K8S_PSAT_PLUGIN, `cluster "${cluster.name}": ${reason(err)}`, err);
    }
  }

  return {
    name: K8S_PSAT_PLUGIN,
    async attest(payload, _challenge, beforeCommit) {
      const p = decodeJsonPayload(payload, K8S_PSAT_PLUGIN);
      const clusterName = p["cluster"];
      const token = p["token"];
      if (typeof clusterName !== "string" || typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) {
        throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${K8S_PSAT_PLUGIN}: the payload needs "cluster" and "token" strings`);
      }
      const cluster = clusters.get(clusterName);
      if (cluster === undefined) throw attestationFailed(K8S_PSAT_PLUGIN, `cluster ${JSON.stringify(clusterName)} is not configured`);
      const claims = await verify(cluster.config, cluster.keys, token);
      const k = (claims["kubernetes.io"] ?? {}) as K8sClaims;
      const ns = str(k.namespace);
      const sa = str(k.serviceaccount?.name);
      if (ns === undefined || sa === undefined) throw attestationFailed(K8S_PSAT_PLUGIN, "the token has no kubernetes.io namespace / service account claims (not a projected token)");
      if (claims.sub !== `system:serviceaccount:${ns}:${sa}`) throw attestationFailed(K8S_PSAT_PLUGIN, "the token's sub does not match its kubernetes.io claims");
      if (!cluster.config.serviceAccountAllowList.includes(`${ns}:${sa}`)) {
        throw attestationFailed(K8S_PSAT_PLUGIN, `service account ${ns}:${sa} is not in cluster "${clusterName}"'s service_account_allow_list`);
      }
      const nodeName = str(k.node?.name);
      const nodeUid = str(k.node?.uid);
      const nodeKey = nodeUid ?? nodeName;
      if (nodeKey === undefined) throw attestationFailed(K8S_PSAT_PLUGIN, "the token has no kubernetes.io node claim (Kubernetes >= 1.30 binds it)");
      let agentId: string;
      try {
        agentId = spiffeIdFromParts(options.trustDomain, "spindle", "agent", K8S_PSAT_PLUGIN, clusterName, nodeKey).toString();
      } catch (err) {
        throw attestationFailed(K8S_PSAT_PLUGIN, `the node identity ${JSON.stringify(nodeKey)} cannot form a SPIFFE ID`, err);
      }
      // After beforeCommit, so the rate limit and bans also shield the API server.
      await beforeCommit(agentId);
      if (cluster.reviewer !== undefined) await review(cluster.config, cluster.reviewer, token, `system:serviceaccount:${ns}:${sa}`);
      const selectors: Selector[] = [];
      const add = (key: SelectorKey<typeof K8S_PSAT_PLUGIN>, v: string | undefined) => v !== undefined && selectors.push(selectorOf(K8S_PSAT_PLUGIN, key, v));
      add("cluster", clusterName);
      add("agent_ns", ns);
      add("agent_sa", sa);
      add("agent_pod_name", str(k.pod?.name));
      add("agent_pod_uid", str(k.pod?.uid));
      add("agent_node_name", nodeName);
      add("agent_node_uid", nodeUid);
      return { agentId, selectors, canReattest: true };
    },
  };
}
