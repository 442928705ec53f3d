// The `k8s` workload attestor: the caller's container id and pod UID from its cgroup, its pod from
// the kubelet's pod list (through the shared cache), and selectors describing the pod and the
// container (docs/workload-attestors.md). A process outside a Kubernetes pod gets no k8s
// selectors; a pod container the kubelet cannot be asked about fails attestation (Unavailable),
// as answering without it could deny a workload that is entitled to an identity.
import type { Clock } from "../../../common/clock.js";
import { systemClock } from "../../../common/clock.js";
import { spindleError } from "../../../common/errors.js";
import type { Logger } from "../../../common/logger.js";
import type { Selector } from "../../../spiffe/selector.js";
import { selectorOf, type SelectorKey } from "../../../spiffe/selector-schema.js";
import { readContainerProcess, type ContainerRef } from "../cgroup.js";
import type { WorkloadAttestorPlugin } from "../plugin.js";
import { K8S_ATTESTOR_NAME, parseK8sAttestorConfig, type K8sAttestorConfig } from "./config.js";
import { createKubeletClient, type FetchPods, type KubeletContainer, type KubeletPod } from "./kubelet-client.js";
import { createPodCache, type PodSnapshot } from "./pod-cache.js";

export interface K8sAttestorOptions {
  /** Parsed config, or the raw YAML block (parsed here). */
  config?: K8sAttestorConfig | unknown;
  logger: Logger;
  clock?: Clock;
  /** Default /proc. */
  procRoot?: string;
  /** Replaces the kubelet HTTP client (default: built from the config). */
  fetchPods?: FetchPods;
}

function isParsed(c: unknown): c is K8sAttestorConfig {
  return typeof c === "object" && c !== null && "kubeletUrl" in c && "podCacheTtlMs" in c;
}


function find(snapshot: PodSnapshot, ref: ContainerRef): { pod: KubeletPod; container: KubeletContainer } | undefined {
  for (const pod of snapshot.pods) {
    if (ref.podUid !== undefined && pod.uid !== ref.podUid) continue;
    const container = pod.containers.find((c) => c.containerId === ref.containerId);
    if (container !== undefined) return { pod, container };
  }
  return undefined;
}

export function selectorsOf(pod: KubeletPod, container: KubeletContainer): Selector[] {
  const out: Selector[] = [];
  const add = (key: SelectorKey<typeof K8S_ATTESTOR_NAME>, value: string) => {
    // An empty field gives no selector rather than an ambiguous `k8s:sa:`.
    if (value !== "") out.push(selectorOf(K8S_ATTESTOR_NAME, key, value));
  };
  add("ns", pod.namespace);
  add("sa", pod.serviceAccount);
  add("pod-name", pod.name);
  add("pod-uid", pod.uid);
  add("node-name", pod.nodeName);
  for (const [k, v] of Object.entries(pod.labels)) out.push(selectorOf(K8S_ATTESTOR_NAME, "pod-label", `${k}:${v}`));
  add("container-name", container.name);
  for (const image of new Set([container.image, container.imageId, container.specImage])) add("container-image", image);
  return out;
}

export function createK8sAttestor(options: K8sAttestorOptions): WorkloadAttestorPlugin {
  const config = isParsed(options.config) ? options.config : parseK8sAttestorConfig(options.config);
  const clock = options.clock ?? systemClock;
  const procRoot = options.procRoot ?? "/proc";
  const log = options.logger.child({ component: "attestor", attestor: K8S_ATTESTOR_NAME });
  const cache = createPodCache({ fetch: options.fetchPods ?? createKubeletClient(config), ttlMs: config.podCacheTtlMs, clock });
  const delay = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));

  async function lookup(ref: ContainerRef) {
    const first = await cache.get();
    const hit = find(first, ref);
    if (hit !== undefined) return hit;
    // The pod may have started after this list was made: ask once more, after a short wait.
    log.debug({ containerId: ref.containerId, podUid: ref.podUid }, "container not in the cached pod list; refetching");
    await delay(config.retryDelayMs);
    const again = find(await cache.get(first), ref);
    if (again !== undefined) return again;
    throw spindleError(
      "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE",
      `k8s workload attestor: container ${ref.containerId}${ref.podUid === undefined ? "" : ` of pod ${ref.podUid}`} is not in the kubelet's pod list (${config.kubeletUrl}/pods), even after a refetch; is the pod still starting, or is kubelet_url another node's kubelet?`,
      { details: { containerId: ref.containerId, podUid: ref.podUid } },
    );
  }

  return {
    name: K8S_ATTESTOR_NAME,
    async attest(pid) {
      const proc = await readContainerProcess(procRoot, pid, clock.now());
      const ref = proc.container;
      // Not in a pod (a host process, or a plain Docker container): nothing to say, not an error.
      if (ref?.podUid === undefined) return [];
      const { pod, container } = await lookup(ref);
      await proc.confirm();
      return selectorsOf(pod, container);
    },
  };
}
