// The `k8s` workload attestor plugin.
export { createK8sAttestor, selectorsOf as k8sSelectorsOf, type K8sAttestorOptions } from "./k8s-attestor.js";
export { parseK8sAttestorConfig, K8S_ATTESTOR_NAME, DEFAULT_KUBELET_URL, type K8sAttestorConfig } from "./config.js";
export type { KubeletPod, KubeletContainer, FetchPods } from "./kubelet-client.js";
