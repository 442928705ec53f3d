// One call of the Docker Engine API over its Unix socket: `GET /containers/<id>/json` (container
// inspect), keeping the fields the selectors need. Unversioned paths get the daemon's own API
// version; the fields read here have been stable since API 1.24.
import * as http from "node:http";
import { spindleError } from "../../../common/errors.js";
import type { DockerAttestorConfig } from "./config.js";
import { readBoundedBody } from "../../../transport/http-body.js";

export interface DockerContainer {
  readonly id: string;
  /** The image ID the container runs (`sha256:...`). */
  readonly imageId: string;
  readonly labels: Readonly<Record<string, string>>;
  /** `NAME=value` entries of the container's configured environment. */
  readonly env: readonly string[];
  /** `State.Pid`: the main process, as the daemon's pid namespace sees it; 0 when not running. */
  readonly pid: number;
}

/** undefined: the daemon does not know the container (404), e.g. a containerd-managed pod. */
export type InspectContainer = (id: string) => Promise<DockerContainer | undefined>;

const MAX_BODY = 4 * 1024 * 1024;

export function createDockerClient(config: DockerAttestorConfig): InspectContainer {
  const fail = (id: string, why: string, cause?: unknown) =>
    spindleError("ERR_WORKLOAD_ATTESTOR_UNAVAILABLE", `docker workload attestor: cannot inspect container ${id} through the Docker Engine API at ${config.socketPath}: ${why}`, { cause });

  return async (id) => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: config.socketPath, path: `/containers/${encodeURIComponent(id)}/json`, method: "GET", headers: { host: "docker", accept: "application/json" }, timeout: config.requestTimeoutMs }, (res) => {
        readBoundedBody(req, res, MAX_BODY, `answer larger than ${MAX_BODY} bytes`).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${config.requestTimeoutMs} ms`)));
      req.on("error", reject);
      req.end();
    }).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === "EACCES" ? " (the agent's user needs access to the socket, e.g. the docker group)" : code === "ENOENT" ? " (is Docker running? is socket_path right?)" : "";
      throw fail(id, `${(err as Error).message}${hint}`, err);
    });
    if (status === 404) return undefined;
    if (status !== 200) throw fail(id, `HTTP ${status}${body === "" ? "" : `: ${body.slice(0, 200).trim()}`}`);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(body) as Record<string, unknown>;
    } catch (err) {
      throw fail(id, `the answer is not JSON: ${(err as Error).message}`, err);
    }
    const cfg = (typeof doc["Config"] === "object" && doc["Config"] !== null ? doc["Config"] : {}) as Record<string, unknown>;
    const labels: Record<string, string> = {};
    const rawLabels = cfg["Labels"];
    if (typeof rawLabels === "object" && rawLabels !== null) for (const [k, v] of Object.entries(rawLabels)) if (typeof v === "string") labels[k] = v;
    const env = Array.isArray(cfg["Env"]) ? cfg["Env"].filter((e): e is string => typeof e === "string") : [];
    const state = (typeof doc["State"] === "object" && doc["State"] !== null ? doc["State"] : {}) as Record<string, unknown>;
    const pid = Number.isSafeInteger(state["Pid"]) && (state["Pid"] as number) > 0 ? (state["Pid"] as number) : 0;
    return { id: typeof doc["Id"] === "string" ? doc["Id"] : id, imageId: typeof doc["Image"] === "string" ? doc["Image"] : "", labels, env, pid };
  };
}
