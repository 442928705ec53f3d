// Configuration of the `k8s` workload attestor (the `workload_attestors.k8s` block of the agent
// config). The kubelet is reached on its authenticated HTTPS port by default; a plain-HTTP
// read-only URL is accepted only when written out explicitly, and never gets the bearer token.
import { readPluginConfig } from "../plugin-config.js";

export const K8S_ATTESTOR_NAME = "k8s";
export const DEFAULT_KUBELET_URL = "https://127.0.0.1:10250";
export const DEFAULT_SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";
export const DEFAULT_SERVICE_ACCOUNT_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

export interface K8sAttestorConfig {
  /** Base URL of the kubelet; `/pods` is appended. */
  readonly kubeletUrl: string;
  /** PEM CA bundle that signed the kubelet's serving certificate (HTTPS only). */
  readonly kubeletCaPath: string;
  /** Name to verify in the kubelet's certificate instead of the URL's host (e.g. the node name). */
  readonly kubeletServerName: string | undefined;
  /** Accept any kubelet certificate (the connection is still encrypted). */
  readonly skipKubeletVerification: boolean;
  /** Bearer token sent to the kubelet, re-read on every request; undefined sends none. */
  readonly tokenPath: string | undefined;
  /** How long one pod list answers attestations. */
  readonly podCacheTtlMs: number;
  /** Wait before the one refetch when a container is not in the list (a pod that just started). */
  readonly retryDelayMs: number;
  readonly requestTimeoutMs: number;
}

const SPEC = {
  kubelet_url: "string",
  kubelet_ca_path: "string",
  kubelet_server_name: "string",
  skip_kubelet_verification: "boolean",
  token_path: "string",
  pod_cache_ttl_ms: "positive-int",
  retry_delay_ms: "positive-int",
  request_timeout_ms: "positive-int",
} as const;

/** Parses the raw block; `undefined`/`null`/`{}` means all defaults. */
export function parseK8sAttestorConfig(raw: unknown, path = `workload_attestors.${K8S_ATTESTOR_NAME}`): K8sAttestorConfig {
  const v = readPluginConfig(raw, path, `${K8S_ATTESTOR_NAME} workload attestor`, SPEC, (v, problems) => {
    if (v.kubelet_url !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(v.kubelet_url);
      } catch {
        problems.push(`${path}.kubelet_url: ${JSON.stringify(v.kubelet_url)} is not a URL (e.g. https://node-1:10250)`);
      }
      if (url !== undefined && url.protocol !== "https:" && url.protocol !== "http:") problems.push(`${path}.kubelet_url: must be an https:// (or explicitly http://) URL`);
      if (url !== undefined && (url.search !== "" || url.hash !== "" || url.username !== "")) problems.push(`${path}.kubelet_url: must have no query, fragment or credentials`);
    }
    const plain = v.kubelet_url?.startsWith("http:") === true;
    if (plain && (v.kubelet_ca_path !== undefined || v.skip_kubelet_verification !== undefined || v.kubelet_server_name !== undefined)) {
      problems.push(`${path}: kubelet_ca_path, kubelet_server_name and skip_kubelet_verification apply to HTTPS only, but kubelet_url is http://`);
    }
    if (v.skip_kubelet_verification === true && (v.kubelet_ca_path !== undefined || v.kubelet_server_name !== undefined)) {
      problems.push(`${path}.skip_kubelet_verification: contradicts kubelet_ca_path / kubelet_server_name (nothing would be verified); drop one`);
    }
    if (v.kubelet_ca_path === "") problems.push(`${path}.kubelet_ca_path: must not be empty`);
    if (v.kubelet_server_name === "") problems.push(`${path}.kubelet_server_name: must not be empty`);
  });
  const plain = v.kubelet_url?.startsWith("http:") === true;
  return Object.freeze({
    kubeletUrl: (v.kubelet_url ?? DEFAULT_KUBELET_URL).replace(/\/+$/, ""),
    kubeletCaPath: v.kubelet_ca_path ?? DEFAULT_SERVICE_ACCOUNT_CA,
    kubeletServerName: v.kubelet_server_name,
    skipKubeletVerification: v.skip_kubelet_verification ?? false,
    // "" sends no token; over plain HTTP none is ever sent.
    tokenPath: plain || v.token_path === "" ? undefined : (v.token_path ?? DEFAULT_SERVICE_ACCOUNT_TOKEN),
    podCacheTtlMs: v.pod_cache_ttl_ms ?? 1000,
    retryDelayMs: v.retry_delay_ms ?? 500,
    requestTimeoutMs: v.request_timeout_ms ?? 5000,
  });
}
