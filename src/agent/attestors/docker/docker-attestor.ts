// The `docker` workload attestor: the caller's container id from its cgroup, the container from
// the Docker Engine API, and selectors from its labels, image ID and the opted-in environment
// variables (docs/workload-attestors.md). A process outside a container, or in a container this
// Docker daemon does not manage, gets no docker selectors; an unreachable daemon fails attestation.
import type { Clock } from "../../../common/clock.js";
import { systemClock } from "../../../common/clock.js";
import type { Logger } from "../../../common/logger.js";
import type { Selector } from "../../../spiffe/selector.js";
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

function isParsed(c: unknown): c is DockerAttestorConfig {
  return typeof c === "object" && c !== null && "socketPath" in c && "envVars" in c;
}

const sel = (value: string): Selector => ({ type: DOCKER_ATTESTOR_NAME, value });

export function dockerSelectorsOf(container: DockerContainer, envVars: readonly string[]): Selector[] {
  const out: Selector[] = [];
  for (const [k, v] of Object.entries(container.labels)) out.push(sel(`label:${k}:${v}`));
  if (container.imageId !== "") out.push(sel(`image_id:${container.imageId}`));
  if (envVars.length > 0) {
    const wanted = new Set(envVars);
    const seen = new Set<string>();
    // Docker keeps the last definition of a repeated variable, as the process sees it.
    for (const entry of [...container.env].reverse()) {
      const eq = entry.indexOf("=");
      const name = eq === -1 ? entry : entry.slice(0, eq);
      if (eq === -1 || !wanted.has(name) || seen.has(name)) continue;
      seen.add(name);
      out.push(sel(`env:${name}:${entry.slice(eq + 1)}`));
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
      await proc.confirm();
      return dockerSelectorsOf(container, config.envVars);
    },
  };
}
