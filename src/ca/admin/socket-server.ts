// Serves the AdminService over HTTP/2 on a local Unix socket. Access control is the filesystem:
// the socket's directory must be private (0700, created so when missing) and the socket is 0600,
// so only its owner (and root) can connect; no directory above it may let another user replace it.
import { chmodSync, existsSync, lstatSync, statSync, unlinkSync } from "node:fs";
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session } from "node:http2";
import { connect } from "node:net";
import { dirname } from "node:path";
import { createConnectHandler } from "../../transport/connect-handler.js";
import { SpindleError, spindleError } from "../../common/errors.js";
import { prepareSocketDirectory } from "../../transport/socket-dir.js";
import type { Logger } from "../../common/logger.js";
import { AdminService } from "../../gen/spindle/admin/v1/admin_pb.js";
import type { AdminServiceDeps } from "./deps.js";
import { errorMappingInterceptor } from "./errors.js";
import { createRequesterTracker } from "./requester.js";
import { createAdminServiceImpl } from "./service.js";

export interface AdminServerOptions {
  socketPath: string;
  deps: AdminServiceDeps;
  logger: Logger;
}

export interface AdminServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

async function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  // Every directory up to / must be safe from other users (socket-dir.ts); an existing directory
  // is never chmod-ed (it could be /tmp): the socket's own must already be private.
  prepareSocketDirectory(path, { mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw spindleError("ERR_SERVER_START", `admin socket directory ${dir} is not a directory`);
  if ((st.mode & 0o077) !== 0) {
    throw spindleError("ERR_SERVER_START", `admin socket directory ${dir} is accessible by group or others (mode 0${(st.mode & 0o777).toString(8)}); use a directory with mode 0700`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw spindleError("ERR_SERVER_START", `admin socket directory ${dir} belongs to uid ${st.uid}, not to this process (uid ${uid})`);
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) throw spindleError("ERR_SERVER_START", `admin socket path ${path} exists and is not a socket`);
    if (await socketInUse(path)) throw spindleError("ERR_SERVER_START", `admin socket ${path} is in use by another server`);
    unlinkSync(path); // stale socket of a server that did not shut down cleanly
  }
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { socketPath, logger } = options;
  try {
    await prepareSocketPath(socketPath);
  } catch (err) {
    if (SpindleError.is(err, "ERR_SERVER_START") || SpindleError.is(err, "ERR_SOCKET_DIR_UNSAFE")) throw err;
    throw spindleError("ERR_SERVER_START", `cannot prepare admin socket ${socketPath}: ${(err as Error).message}`, { cause: err });
  }
  const impl = createAdminServiceImpl(options.deps);
  const requesters = createRequesterTracker(logger);
  const handler = createConnectHandler({
    routes: (router) => router.service(AdminService, impl),
    interceptors: [errorMappingInterceptor(logger)],
    contextValues: (req) => requesters.contextValues(req),
    logger,
  });
  const server: Http2Server = createHttp2Server(handler);
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (s) => {
    requesters.onSession(s);
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(spindleError("ERR_SERVER_START", `cannot listen on admin socket ${socketPath}: ${err.message}`, { cause: err })));
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  logger.info({ socketPath }, "admin API listening");
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle HTTP/2 sessions of CLI clients would otherwise hold close() open.
        for (const s of sessions) s.close();
      }),
  };
}
