// Client of the agent's admin socket (used by `spindle explain` and `spindle agent envoys`).
import { request } from "node:http";
import { isErrorCode, spindleError, SpindleError } from "../../common/errors.js";
import { checkSocketDirectory } from "../../transport/socket-dir.js";

/**
 * GETs `path` on the admin socket and returns the decoded JSON; errors keep the agent's code.
 * A socket whose directories another user could replace is refused (ERR_SOCKET_DIR_UNSAFE).
 */
export function agentAdminGet(socketPath: string, path: string, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    try {
      if (checkSocketDirectory(socketPath) === "missing") {
        return reject(spindleError("ERR_AGENT_ADMIN_UNREACHABLE", `cannot reach the agent admin socket ${socketPath}: it does not exist (is the agent running? see --admin-socket)`));
      }
    } catch (err) {
      return reject(err);
    }
    const req = request({ socketPath, path, method: "GET", timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          return reject(spindleError("ERR_AGENT_ADMIN_UNREACHABLE", `${socketPath} answered ${res.statusCode} with something other than JSON`));
        }
        if (res.statusCode === 200) return resolve(body);
        const e = (body as { error?: { code?: string; message?: string } }).error;
        reject(new SpindleError(isErrorCode(e?.code) ? e.code : "ERR_INTERNAL", e?.message ?? `HTTP ${res.statusCode}`));
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) =>
      reject(spindleError("ERR_AGENT_ADMIN_UNREACHABLE", `cannot reach the agent admin socket ${socketPath}: ${err.message} (is the agent running? see --admin-socket)`, { cause: err })),
    );
    req.end();
  });
}
