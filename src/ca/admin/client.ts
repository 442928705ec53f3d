// Admin API client over the server's Unix socket (gRPC over HTTP/2). Every call's error comes
// back as a SpindleError carrying the server's code.
import { connect } from "node:net";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
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
        try {
          return await (fn as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (err) {
          throw fromConnectError(err, options.socketPath);
        }
      };
    },
  });
}
