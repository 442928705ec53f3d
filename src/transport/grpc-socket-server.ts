// The agent's public Unix socket: a grpc-js server fed connections we accept ourselves
// (docs/design/agent-socket.md). Accepting with net.createServer lets us read SO_PEERCRED on the
// fresh socket before any byte of HTTP/2 is parsed; the socket is then tagged and injected into
// grpc-js with `createConnectionInjector`. Handlers recover the credentials from the tag through
// `call.getPeer()` (or `getConnectionInfo().remoteAddress` in an interceptor).
import { chmod, rm, stat } from "node:fs/promises";
import type http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { SpindleError, spindleError } from "../common/errors.js";
import { UndecodableRequest } from "./grpc-service.js";
import { wrapWithAuthorityRewrite } from "./h2-authority-rewrite.js";
import { isClientHangUp } from "../common/hang-up.js";
import { createLogRateLimiter, logLimited, type LogRateLimiter } from "../common/log-rate-limit.js";
import type { Logger } from "../common/logger.js";
import { prepareSocketDirectory } from "./socket-dir.js";
import { createPeerCredentialsReader, type PeerCredentials, type PeerCredentialsReader } from "./peer-cred.js";
import { ERROR_CODE_KEY, UNDECODABLE_MESSAGE } from "./wire-errors.js";

export interface GrpcSocketServerOptions {
  /**
   * Absolute path of the Unix socket; missing directories are created (0755), and every directory
   * up to `/` must be safe (socket-dir.ts) or start() rejects with ERR_SOCKET_DIR_UNSAFE.
   */
  socketPath: string;
  /** File mode of the socket; 0o777 for the public socket (callers are told apart by SO_PEERCRED). */
  mode?: number;
  logger: Logger;
  /** Extra grpc-js server options. HTTP/2 concurrent streams are not capped unless set here. */
  grpcOptions?: grpc.ServerOptions;
  /**
   * Interceptor placed closest to the transport (inside the refusal of undecodable messages), so
   * it sees every status a call ends with: for metrics.
   */
  observer?: grpc.ServerInterceptor;
  /** Replaces the koffi SO_PEERCRED reader (platforms without it; tests of failure paths). */
  readPeerCredentials?: PeerCredentialsReader;
}

/** Anything that can name its peer: a grpc-js call (`getPeer`) or a ConnectionInfo. */
export type PeerSource = { getPeer(): string } | { remoteAddress?: string | undefined };

export interface GrpcSocketServer {
  readonly socketPath: string;
  /** Registers a service; call before or after start(). */
  addService(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void;
  /**
   * Creates and checks the directories, removes a stale socket, listens and chmods. Rejects with
   * ERR_SOCKET_DIR_UNSAFE or ERR_SOCKET_LISTEN.
   */
  start(): Promise<void>;
  /** The kernel-reported credentials of the connection a call arrived on. */
  peerCredentials(call: PeerSource): PeerCredentials | undefined;
  /** Open connections (for health and metrics). */
  connectionCount(): number;
  /** Stops accepting, lets calls finish for `graceMs`, then cuts what is left and removes the socket. */
  close(graceMs?: number): Promise<void>;
}

const TAG_PREFIX = "spindle-peer-";


export function createGrpcSocketServer(options: GrpcSocketServerOptions): GrpcSocketServer {
  const { socketPath, logger } = options;
  const mode = options.mode ?? 0o777;
  const readPeer = options.readPeerCredentials ?? createPeerCredentialsReader();
  // Every warning below can repeat per connection or call: one line per kind and window (docs/logging.md).
  const warnings = createLogRateLimiter();
  const grpcServer = new grpc.Server({ ...options.grpcOptions, interceptors: [...(options.observer ? [options.observer] : []), refuseUndecodable(logger, warnings), ...(options.grpcOptions?.interceptors ?? [])] });
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const peers = new Map<string, PeerCredentials>();
  let nextConnection = 1;
  // Node's HTTP/2 wraps the injected Duplex in an internal socket (JSStreamSocket) whose
  // remoteAddress comes from its `_peername`; grpc-js reports that as the call's peer. We set it to
  // the connection's tag when the session is created, before grpc-js's own session listener runs.
  const tags = new WeakMap<object, string>();
  for (const http2Server of injectorServers(grpcServer)) {
    http2Server.prependListener("session", (session: http2.ServerHttp2Session) => {
      const socket = session.socket as unknown as { stream?: object; _peername?: { address: string } };
      const tag = socket.stream === undefined ? undefined : tags.get(socket.stream);
      if (tag === undefined) {
        logLimited(warnings, "untagged-session", logger, "warn", {}, "closing an HTTP/2 session whose connection has no peer tag");
        session.destroy();
        return;
      }
      socket._peername = { address: tag };
    });
    guardStreamHandoff(http2Server, logger, warnings);
  }

  const netServer = net.createServer({ pauseOnConnect: false }, (socket) => {
    let creds: PeerCredentials;
    try {
      creds = readPeer(socket);
    } catch (err) {
      logLimited(warnings, "peer-credentials", logger, "warn", { err: (err as Error).message }, "closing a connection whose peer credentials cannot be read");
      socket.destroy();
      return;
    }
    const tag = `${TAG_PREFIX}${nextConnection++}`;
    peers.set(tag, creds);
    socket.once("close", () => peers.delete(tag));
    // grpc-java sends the socket path as :authority, which nghttp2 refuses; the client's bytes go
    // through a rewrite to `localhost` (h2-authority-rewrite.ts) before grpc-js sees them.
    const connection = wrapWithAuthorityRewrite(socket, {
      onRewrite: (authority) => logger.debug({ connection: tag, authority }, "rewriting a :authority nghttp2 would reject"),
    });
    connection.on("error", (err: NodeJS.ErrnoException) => {
      if (isClientHangUp(err)) logger.debug({ connection: tag, code: err.code }, "the client hung up");
      else logLimited(warnings, `connection-error:${err.code ?? err.message}`, logger, "warn", { connection: tag, code: err.code, err: err.message }, "closing a connection");
    });
    tags.set(connection, tag);
    logger.debug({ peer: creds, connection: tag }, "accepted connection");
    injector.injectConnection(connection);
  });
  netServer.on("error", (err) => logger.error({ err, socketPath }, "socket server error"));

  return {
    socketPath,
    addService: (definition, implementation) => grpcServer.addService(definition, implementation),
    async start() {
      try {
        prepareSocketDirectory(socketPath, { mode: 0o755 });
      } catch (err) {
        netServer.close();
        if (SpindleError.is(err, "ERR_SOCKET_DIR_UNSAFE")) throw err;
        throw spindleError("ERR_SOCKET_LISTEN", `cannot create the directory of ${socketPath}: ${(err as Error).message}`, { cause: err });
      }
      try {
        await removeStaleSocket(socketPath);
        await new Promise<void>((resolve, reject) => {
          netServer.once("error", reject);
          netServer.listen(socketPath, () => {
            netServer.off("error", reject);
            resolve();
          });
        });
        await chmod(socketPath, mode);
      } catch (err) {
        netServer.close();
        throw spindleError("ERR_SOCKET_LISTEN", `cannot listen on ${socketPath}: ${(err as Error).message}`, { cause: err });
      }
      logger.info({ socketPath, mode: mode.toString(8) }, "listening");
    },
    peerCredentials(call) {
      const tag = "getPeer" in call ? call.getPeer() : call.remoteAddress;
      return tag === undefined ? undefined : peers.get(tag);
    },
    connectionCount: () => peers.size,
    async close(graceMs = 1000) {
      netServer.close();
      // Ask clients to go away (GOAWAY), wait up to graceMs for calls to end, then cut the rest.
      injector.drain(graceMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs + 50);
        grpcServer.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      grpcServer.forceShutdown();
      injector.destroy();
      await rm(socketPath, { force: true });
    },
  };
}

// grpc-js keeps the HTTP/2 server behind a connection injector in a private map; this server never
// binds a port, so every entry is an injector's.
function injectorServers(server: grpc.Server): http2.Http2Server[] {
  const servers = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) throw new Error("grpc-js no longer exposes its HTTP/2 servers (http2Servers)");
  return [...servers.keys()];
}

// Answers a request message that did not decode (grpc-service.ts) INVALID_ARGUMENT with the code
// in the trailers; the decoder's text goes to the log only.
function refuseUndecodable(logger: Logger, warnings: LogRateLimiter): grpc.ServerInterceptor {
  return (method, call) => {
    let refused = false;
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMessage(message, nextMessage) {
            if (refused) return;
            if (!(message instanceof UndecodableRequest)) return nextMessage(message);
            refused = true;
            logLimited(warnings, `undecodable:${method.path}`, logger, "info", { method: method.path, type: message.typeName, reason: message.reason }, "refusing an undecodable request message (InvalidArgument)");
            const metadata = new grpc.Metadata();
            metadata.set(ERROR_CODE_KEY, "ERR_INVALID_ARGUMENT");
            intercepting.sendStatus({ code: grpc.status.INVALID_ARGUMENT, details: UNDECODABLE_MESSAGE, metadata });
          },
          onReceiveHalfClose(nextHalfClose) {
            if (!refused) nextHalfClose();
          },
        });
      },
    });
    return intercepting;
  };
}

// Node emits a server stream's 'stream' event on the next tick after nghttp2 parsed its HEADERS.
// Behind the JS byte transform of h2-authority-rewrite.ts a whole client chunk is parsed in one
// go, so a RST_STREAM (or a stream error nghttp2 answers with one) in the same chunk closes and
// destroys the stream before grpc-js sees it, and grpc-js's first respond() on it throws
// ERR_HTTP2_INVALID_STREAM out of the event loop, taking every connection down. grpc-js's stream
// listeners are therefore called only with live streams, and a throw from them ends that stream
// alone.
function guardStreamHandoff(http2Server: http2.Http2Server, logger: Logger, warnings: LogRateLimiter): void {
  const grpcListeners = http2Server.listeners("stream") as ((...args: unknown[]) => void)[];
  http2Server.removeAllListeners("stream");
  http2Server.on("stream", (stream: http2.ServerHttp2Stream, ...rest: unknown[]) => {
    if (stream.destroyed || stream.closed) {
      // Its close may still emit an error (the client's RST_STREAM code); nobody else listens.
      stream.on("error", () => {});
      logger.debug({ stream: stream.id, rstCode: stream.rstCode }, "dropping a stream the client reset before it was dispatched");
      return;
    }
    for (const listener of grpcListeners) {
      try {
        listener.call(http2Server, stream, ...rest);
      } catch (err) {
        logLimited(warnings, "dispatch", logger, "warn", { err, stream: stream.id }, "closing a stream whose dispatch failed");
        stream.on("error", () => {});
        stream.destroy();
        return;
      }
    }
  });
}

// A socket file left by a crashed agent blocks bind(). A socket someone still listens on, or a
// non-socket file, is not ours to delete.
async function removeStaleSocket(path: string): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return;
  }
  if (!info.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new Error(`another process is listening on ${path}`);
  await rm(path);
}
