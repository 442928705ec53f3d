// Admin API client over the server's Unix socket (gRPC over HTTP/2). Every call's error comes
// back as a SpindleError carrying the server's code. Trusted directory owners are root and this
// process's uid: the CLI runs as the server's user or as root.
import { connect } from "node:net";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { spindleError } from "../../common/errors.js";
import { checkSocketDirectory } from "../../transport/socket-dir.js";
import { AdminService } from "../../gen/spindle/admin/v1/admin_pb.js";
import { fromConnectError } from "./errors.js";

export type AdminClient = Client<typeof AdminService>;

export interface AdminClientOptions {
  socketPath: string;
  /** Per-call deadline; default 30 s. */
  timeoutMs?: number;
}

export function createAdminClient(options: AdminClientOptions): AdminClient {
  const transport = createGrpcTransport({
    baseUrl: "http://localhost",
    nodeOptions: { createConnection: () => connect(options.socketPath) },
    defaultTimeoutMs: options.timeoutMs ?? 30_000,
  });
  const client = createClient(AdminService, transport);
  // Wrap every method so callers see SpindleErrors, not transport errors.
  return new Proxy(client, {
    get(target, prop, receiver) {
      const fn = Reflect.get(target, prop, receiver) as unknown;
      if (typeof fn !== "function") return fn;
      return async (...args: unknown[]) => {
        // Before every call: a socket whose directories another user could replace is refused
        // (ERR_SOCKET_DIR_UNSAFE), a missing one is not connected to.
        if (checkSocketDirectory(options.socketPath) === "missing") {
          throw spindleError("ERR_ADMIN_UNREACHABLE", `cannot reach the server admin socket ${options.socketPath}: it does not exist (is the server running? see --admin-socket)`);
        }
        try {
          return await (fn as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (err) {
          throw fromConnectError(err, options.socketPath);
        }
      };
    },
  });
}
