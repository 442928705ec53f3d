// Workload attestation for the agent socket: every configured plugin attests the caller's pid in
// parallel and their selectors are combined. Any plugin failure fails the whole attestation
// (fail-closed, docs/workload-attestors.md): a process that exited or whose pid was reused must
// get no identity at all, and answering with the other plugins' selectors while the kubelet or
// Docker is unreachable would turn "cannot tell yet" (Unavailable, clients retry) into a false
// PermissionDenied (which some clients never retry) or a stream holding fewer identities than the
// workload is entitled to. Every failing plugin is logged by name. The result serves the Workload
// API (WorkloadAttestor) and, through toCallerAttestor, SDS (src/sds/contracts.ts CallerAttestor),
// without either importing the other.
import { SpindleError, spindleError } from "../../common/errors.js";
import { createLogRateLimiter, logLimited } from "../../common/log-rate-limit.js";
import type { Logger } from "../../common/logger.js";
import type { PeerCredentials } from "../../transport/peer-cred.js";
import { formatSelector, type Selector } from "../../spiffe/selector.js";
import type { WorkloadAttestor } from "../workload-api/contracts.js";
import type { WorkloadAttestorPlugin } from "./plugin.js";

export type { WorkloadAttestorPlugin } from "./plugin.js";
export { createUnixAttestor, parseUnixAttestorConfig, UNIX_ATTESTOR_NAME, DEFAULT_WORKLOAD_SIZE_LIMIT, type UnixAttestorConfig, type UnixAttestorOptions } from "./unix/index.js";
export { createK8sAttestor, parseK8sAttestorConfig, K8S_ATTESTOR_NAME, DEFAULT_KUBELET_URL, type K8sAttestorConfig, type K8sAttestorOptions } from "./k8s/index.js";
export { createDockerAttestor, parseDockerAttestorConfig, DOCKER_ATTESTOR_NAME, DEFAULT_DOCKER_SOCKET, type DockerAttestorConfig, type DockerAttestorOptions } from "./docker/index.js";

export interface CreateWorkloadAttestorOptions {
  plugins: readonly WorkloadAttestorPlugin[];
  logger: Logger;
}

export function createWorkloadAttestor(options: CreateWorkloadAttestorOptions): WorkloadAttestor {
  if (options.plugins.length === 0) throw new TypeError("createWorkloadAttestor: at least one plugin is required");
  const names = options.plugins.map((p) => p.name);
  if (new Set(names).size !== names.length) throw new TypeError(`createWorkloadAttestor: duplicate plugin in ${names.join(", ")}`);
  const log = options.logger.child({ component: "workload-attestation" });
  // Once per attestor, code and window: a process that exits before it is attested is common.
  const warnings = createLogRateLimiter();
  return {
    async attest(peer: PeerCredentials): Promise<readonly Selector[]> {
      if (!Number.isSafeInteger(peer.pid) || peer.pid <= 0) {
        throw spindleError("ERR_WORKLOAD_ATTESTATION", `the caller has no usable pid (${peer.pid}); is it in another pid namespace?`);
      }
      const started = Date.now();
      const results = await Promise.allSettled(options.plugins.map((p) => p.attest(peer.pid)));
      const failures: SpindleError[] = [];
      results.forEach((r, i) => {
        if (r.status === "fulfilled") return;
        const err: unknown = r.reason;
        const e = err instanceof SpindleError ? err : spindleError("ERR_WORKLOAD_ATTESTATION", `${names[i]} attestation of pid ${peer.pid} failed: ${(err as Error).message}`, { cause: err });
        logLimited(warnings, `${names[i]}:${e.code}`, log, "warn", { pid: peer.pid, uid: peer.uid, attestor: names[i], code: e.code, err: e.message }, "workload attestor failed; the call gets no identity");
        failures.push(e);
      });
      // "The process is gone" outranks "a runtime is unreachable": retrying cannot help it.
      const fatal = failures.find((e) => e.code === "ERR_WORKLOAD_ATTESTATION") ?? failures[0];
      if (fatal !== undefined) throw fatal;
      const selectors = results.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
      log.debug({ pid: peer.pid, uid: peer.uid, selectors: selectors.map(formatSelector), ms: Date.now() - started }, "attested caller");
      return selectors;
    },
  };
}

/** The same attestor in the shape SDS expects: `{ peer, selectors: ["type:value", ...] }`. */
export function toCallerAttestor(attestor: WorkloadAttestor): { attest(peer: PeerCredentials): Promise<{ peer: PeerCredentials; selectors: readonly string[] }> } {
  return { attest: async (peer) => ({ peer, selectors: (await attestor.attest(peer)).map(formatSelector) }) };
}
