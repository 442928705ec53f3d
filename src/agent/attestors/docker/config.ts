// Configuration of the `docker` workload attestor (the `workload_attestors.docker` block of the
// agent config). Environment variables become selectors only when named here: a container's
// environment often holds secrets, and selectors are logged and shown by `spindle explain`.
import { readPluginConfig } from "../plugin-config.js";

export const DOCKER_ATTESTOR_NAME = "docker";
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

export interface DockerAttestorConfig {
  /** The Docker Engine API's Unix socket. */
  readonly socketPath: string;
  /** Variable names offered as `docker:env:<NAME>:<value>` selectors. */
  readonly envVars: readonly string[];
  readonly requestTimeoutMs: number;
}

const SPEC = { socket_path: "string", env_vars: "string-list", request_timeout_ms: "positive-int" } as const;
const ENV_NAME = /^[^=:\s]+$/;

/** Parses the raw block; `undefined`/`null`/`{}` means all defaults. */
export function parseDockerAttestorConfig(raw: unknown, path = `workload_attestors.${DOCKER_ATTESTOR_NAME}`): DockerAttestorConfig {
  const v = readPluginConfig(raw, path, `${DOCKER_ATTESTOR_NAME} workload attestor`, SPEC, (v, problems) => {
    if (v.socket_path !== undefined && !v.socket_path.startsWith("/")) problems.push(`${path}.socket_path: must be an absolute path`);
    for (const [i, name] of (v.env_vars ?? []).entries()) {
      if (!ENV_NAME.test(name)) problems.push(`${path}.env_vars.${i}: ${JSON.stringify(name)} is not a variable name (no '=', ':' or spaces)`);
    }
  });
  return Object.freeze({
    socketPath: v.socket_path ?? DEFAULT_DOCKER_SOCKET,
    envVars: Object.freeze([...new Set(v.env_vars ?? [])]),
    requestTimeoutMs: v.request_timeout_ms ?? 5000,
  });
}
