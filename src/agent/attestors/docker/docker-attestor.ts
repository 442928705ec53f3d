// The `docker` workload attestor: the caller's container id from its cgroup, the container from
// the Docker Engine API, and selectors from its labels, image ID and the opted-in environment
// variables (docs/workload-attestors.md). A process outside a container, or in a container this
// Docker daemon does not manage, gets no docker selectors; an unreachable daemon fails attestation.
// The cgroup only says where the process was put; the container's pid namespace says it really
// runs in the container (a privileged container can make cgroups named after others below its own).
import { readlink } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../../common/clock.js";
import { systemClock } from "../../../common/clock.js";
import type { Logger } from "../../../common/logger.js";
import type { Selector } from "../../../spiffe/selector.js";
import { selectorOf, type SelectorKey } from "../../../spiffe/selector-schema.js";
import { readContainerProcess } from "../cgroup.js";
import type { WorkloadAttestorPlugin } from "../plugin.js";
import { DOCKER_ATTESTOR_NAME, parseDockerAttestorConfig, type DockerAttestorConfig } from "./config.js";
import { createDockerClient, type DockerContainer, type InspectContainer } from "./docker-client.js";

export interface DockerAttestorOptions {
  /** Parsed config, or the raw YAML block (parsed here). */
  config?: DockerAttestorConfig | unknown;
  logger: Logger;
  clock?: Clock;
  /** Default /proc. */
  procRoot?: string;
  /** Replaces the Docker Engine API client (default: built from the config). */
  inspect?: InspectContainer;
}

/** The `pid:[inode]` link of a process's pid namespace, or undefined when it cannot be read. */
async function pidNamespaceOf(procRoot: string, pid: number): Promise<string | undefined> {
  try {
    return await readlink(join(procRoot, String(pid), "ns", "pid"));
  } catch {
    // Exited (confirm() reports that), not visible from this pid namespace, or not permitted
    // (reading another user's ns links needs root or CAP_SYS_PTRACE).
    return undefined;
  }
}

function isParsed(c: unknown): c is DockerAttestorConfig {
  return typeof c === "object" && c !== null && "socketPath" in c && "envVars" in c;
}

const sel = (key: SelectorKey<typeof DOCKER_ATTESTOR_NAME>, value: string): Selector => selectorOf(DOCKER_ATTESTOR_NAME, key, value);

export function dockerSelectorsOf(container: DockerContainer, envVars: readonly string[]): Selector[] {
  const out: Selector[] = [];
  for (const [k, v] of Object.entries(container.labels)) out.push(sel("label", `${k}:${v}`));
  if (container.imageId !== "") out.push(sel("image_id", container.imageId));
  if (envVars.length > 0) {
    const wanted = new Set(envVars);
    const seen = new Set<string>();
    // Docker keeps the last definition of a repeated variable, as the process sees it.
    for (const entry of [...container.env].reverse()) {
      const eq = entry.indexOf("=");
      const name = eq === -1 ? entry : entry.slice(0, eq);
      if (eq === -1 || !wanted.has(name) || seen.has(name)) continue;
      seen.add(name);
      out.push(sel("env", `${name}:${entry.slice(eq + 1)}`));
    }
  }
  return out;
}

export function createDockerAttestor(options: DockerAttestorOptions): WorkloadAttestorPlugin {
  const config = isParsed(options.config) ? options.config : parseDockerAttestorConfig(options.config);
  const clock = options.clock ?? systemClock;
  const procRoot = options.procRoot ?? "/proc";
  const inspect = options.inspect ?? createDockerClient(config);
  const log = options.logger.child({ component: "attestor", attestor: DOCKER_ATTESTOR_NAME });

  return {
    name: DOCKER_ATTESTOR_NAME,
    async attest(pid) {
      const proc = await readContainerProcess(procRoot, pid, clock.now());
      if (proc.container === undefined) return [];
      const container = await inspect(proc.container.containerId);
      if (container === undefined) {
        log.debug({ pid, containerId: proc.container.containerId }, "container unknown to the Docker daemon; no docker selectors");
        return [];
      }
      // State.Pid is 0 for a container that is not running; its pid namespace is then unknown.
      const [caller, main] = container.pid > 0 ? await Promise.all([pidNamespaceOf(procRoot, pid), pidNamespaceOf(procRoot, container.pid)]) : [undefined, undefined];
      // After the namespace reads, so a pid reused meanwhile fails as such rather than as a mismatch.
      await proc.confirm();
      if (caller !== undefined && main !== undefined && caller !== main) {
        log.warn(
          { pid, containerId: container.id, containerPid: container.pid, pidNamespace: caller, containerPidNamespace: main },
          "the caller's cgroup names a container whose pid namespace it is not in; no docker selectors",
        );
        return [];
      }
      if (container.pid > 0 && (caller === undefined || main === undefined)) {
        log.debug({ pid, containerId: container.id, containerPid: container.pid }, "pid namespaces not readable; the cgroup alone places the caller in the container");
      }
      return dockerSelectorsOf(container, config.envVars);
    },
  };
}
