// The agent's admin socket: a private Unix socket (directory 0700, socket 0600, so only the
// agent's user and root can connect) serving small read-only JSON endpoints over HTTP:
//   GET /explain?pid=N   why a process gets its identities (explain.ts)
//   GET /envoys          connected Envoys and what each last ACKed / NACKed (SDS and ECDS)
//   GET /status          agent SPIFFE ID, readiness, entry count, last sync
import { chmod, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { dirname } from "node:path";
import { SpindleError, spindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { prepareSocketDirectory } from "../../transport/socket-dir.js";

export interface AgentAdminHandlers {
  explain(pid: number): Promise<unknown>;
  envoys(): unknown;
  status(): unknown;
}

export interface AgentAdminServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

export async function startAgentAdminServer(options: { socketPath: string; handlers: AgentAdminHandlers; logger: Logger }): Promise<AgentAdminServer> {
  const { socketPath, handlers } = options;
  const logger = options.logger.child({ component: "agent-admin" });
  const dir = dirname(socketPath);
  // Throws ERR_SOCKET_DIR_UNSAFE when any directory up to / could let another user replace the socket.
  prepareSocketDirectory(socketPath, { mode: 0o700 });
  const info = await stat(dir);
  if ((info.mode & 0o077) !== 0 || (process.getuid !== undefined && info.uid !== process.getuid())) {
    throw spindleError("ERR_AGENT_START", `admin socket directory ${dir} must be owned by this user and private (mode 0700); it is ${(info.mode & 0o777).toString(8)}`);
  }
  await rm(socketPath, { force: true });

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://agent");
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body) + "\n");
    };
    const fail = (err: unknown) => {
      const e = SpindleError.from(err);
      if (e.code === "ERR_INTERNAL") logger.error({ err }, "admin request failed");
      reply(e.code === "ERR_INVALID_ARGUMENT" ? 400 : 500, { error: { code: e.code, message: e.message } });
    };
    if (req.method !== "GET") return reply(405, { error: { code: "ERR_INVALID_ARGUMENT", message: "only GET" } });
    try {
      if (url.pathname === "/explain") {
        const pid = Number(url.searchParams.get("pid"));
        if (!Number.isSafeInteger(pid) || pid <= 0) throw spindleError("ERR_INVALID_ARGUMENT", `pid must be a positive integer, got ${JSON.stringify(url.searchParams.get("pid"))}`);
        handlers.explain(pid).then((r) => reply(200, r), fail);
        return;
      }
      if (url.pathname === "/envoys") return reply(200, handlers.envoys());
      if (url.pathname === "/status") return reply(200, handlers.status());
      reply(404, { error: { code: "ERR_NOT_FOUND", message: `no admin endpoint ${url.pathname}` } });
    } catch (err) {
      fail(err);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(spindleError("ERR_AGENT_START", `cannot listen on admin socket ${socketPath}: ${err.message}`, { cause: err })));
    server.listen(socketPath, () => resolve());
  });
  await chmod(socketPath, 0o600);
  logger.info({ socketPath }, "admin socket listening");
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => void rm(socketPath, { force: true }).then(() => resolve(), () => resolve()));
        server.closeAllConnections();
      }),
  };
}
