// Configuration of the server-side k8s_psat node attestor (`node_attestors.k8s_psat`): one block
// per cluster, keyed by the cluster name the agent reports.
import { createConfigReader } from "../config.js";

export const K8S_PSAT_PLUGIN = "k8s_psat";
export const DEFAULT_PSAT_AUDIENCE = "spindle-server";

export interface TokenReviewConfig {
  readonly apiServerUrl: string;
  /** PEM CA certificates the API server's certificate must chain to; default Node's CA store. */
  readonly caPath?: string;
  /** Bearer token file for the API server; default the in-cluster service-account token. */
  readonly tokenPath?: string;
}

export interface K8sPsatClusterConfig {
  readonly name: string;
  /** `namespace:serviceaccount` pairs allowed to attest. */
  readonly serviceAccountAllowList: readonly string[];
  readonly audience: readonly string[];
  /** Exactly one of jwksPath (a JWK Set file) and issuerUrl (OIDC discovery) is set. */
  readonly jwksPath?: string;
  readonly issuerUrl?: string;
  /** Required `iss` (defaults to issuerUrl when that is set). */
  readonly issuer?: string;
  /** When set, every token is also checked with a TokenReview against this API server. */
  readonly tokenReview?: TokenReviewConfig;
}

export interface K8sPsatServerConfig {
  readonly clusters: readonly K8sPsatClusterConfig[];
}

const CLUSTER_KEYS = ["service_account_allow_list", "audience", "jwks_path", "issuer_url", "issuer", "token_review"] as const;
const REVIEW_KEYS = ["api_server_url", "ca_path", "token_path"] as const;
// The cluster name becomes a SPIFFE ID path segment and a selector value.
const CLUSTER_NAME = /^[A-Za-z0-9._-]{1,63}$/;
const SA_PAIR = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function isHttpsUrl(v: string, allowHttp: boolean): boolean {
  try {
    const u = new URL(v);
    return u.protocol === "https:" || (allowHttp && u.protocol === "http:");
  } catch {
    return false;
  }
}

export function parseK8sPsatServerConfig(raw: unknown, path = `node_attestors.${K8S_PSAT_PLUGIN}`): K8sPsatServerConfig {
  const r = createConfigReader();
  const top = r.mapping(raw, path, ["clusters"]) ?? {};
  const clustersRaw = r.mapping(top["clusters"], `${path}.clusters`, Object.keys((top["clusters"] as object | null) ?? {})) ?? {};
  const clusters: K8sPsatClusterConfig[] = [];
  if (Object.keys(clustersRaw).length === 0) r.problems.push(`${path}.clusters: at least one cluster is required`);
  for (const [name, block] of Object.entries(clustersRaw)) {
    const p = `${path}.clusters.${name}`;
    if (!CLUSTER_NAME.test(name)) r.problems.push(`${p}: cluster name must be 1-63 of [A-Za-z0-9._-]`);
    const c = r.mapping(block, p, CLUSTER_KEYS);
    if (c === undefined) continue;
    const allow = r.stringList(c, "service_account_allow_list", p);
    if (allow === undefined || allow.length === 0) r.problems.push(`${p}.service_account_allow_list: required, a list of "namespace:serviceaccount"`);
    for (const [i, a] of (allow ?? []).entries()) if (!SA_PAIR.test(a)) r.problems.push(`${p}.service_account_allow_list[${i}]: ${JSON.stringify(a)} is not "namespace:serviceaccount"`);
    const audience = r.stringList(c, "audience", p) ?? [DEFAULT_PSAT_AUDIENCE];
    if (audience.length === 0) r.problems.push(`${p}.audience: must not be empty`);
    const jwksPath = r.string(c, "jwks_path", p);
    const issuerUrl = r.string(c, "issuer_url", p);
    if (issuerUrl !== undefined && !isHttpsUrl(issuerUrl, false)) r.problems.push(`${p}.issuer_url: must be an https:// URL`);
    if ((jwksPath === undefined) === (issuerUrl === undefined)) r.problems.push(`${p}: set exactly one of jwks_path and issuer_url`);
    const issuer = r.string(c, "issuer", p) ?? issuerUrl;
    let tokenReview: TokenReviewConfig | undefined;
    if (c["token_review"] !== undefined) {
      const tr = r.mapping(c["token_review"], `${p}.token_review`, REVIEW_KEYS);
      if (tr !== undefined) {
        const url = r.string(tr, "api_server_url", `${p}.token_review`, { required: true });
        if (url !== undefined && !isHttpsUrl(url, false)) r.problems.push(`${p}.token_review.api_server_url: must be an https:// URL`);
        tokenReview = { apiServerUrl: url ?? "", caPath: r.string(tr, "ca_path", `${p}.token_review`), tokenPath: r.string(tr, "token_path", `${p}.token_review`) };
      }
    }
    clusters.push(Object.freeze({ name, serviceAccountAllowList: Object.freeze(allow ?? []), audience: Object.freeze(audience), jwksPath, issuerUrl, issuer, tokenReview }));
  }
  r.done(`${K8S_PSAT_PLUGIN} node attestor`);
  return Object.freeze({ clusters: Object.freeze(clusters) });
}
