// /live, /ready and /metrics over plain HTTP, for the server's health and metrics addresses and the
// agent's health address.
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import { spindleError, type ErrorCode } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

export interface HostPort {
  host: string;
  port: number;
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export interface HttpEndpointsOptions {
  address: HostPort;
  /** The code of the error a failed listen() rejects with (ERR_SERVER_START, ERR_AGENT_START). */
  startErrorCode: ErrorCode;
  /** live/ready are served when set. */
  health?: { ready(): Promise<{ ready: boolean; reason?: string }> };
  /** /metrics is served when set. */
  metrics?: Registry;
  logger: Logger;
}

export interface HttpEndpoints {
  /** The bound address (port resolved when 0 was asked for). */
  readonly address: HostPort;
  close(): Promise<void>;
}

export async function startHttpEndpoints(o: HttpEndpointsOptions): Promise<HttpEndpoints> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n");
    if (o.health && path === "/live") return send(200, "ok\n");
    if (o.health && path === "/ready") {
      o.health.ready().then(
        (r) => send(r.ready ? 200 : 503, r.ready ? "ready\n" : `not ready: ${r.reason ?? "starting"}\n`),
        (err: unknown) => send(503, `not ready: ${(err as Error).message}\n`),
      );
      return;
    }
    if (o.metrics && path === "/metrics") {
      o.metrics.metrics().then(
        (text) => send(200, text, o.metrics!.contentType),
        (err: unknown) => {
          o.logger.error({ err }, "collecting metrics failed");
          send(500, "metrics collection failed\n");
        },
      );
      return;
    }
    send(404, "not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(spindleError(o.startErrorCode, `cannot listen on ${formatHostPort(o.address)} (${o.health ? "health" : "metrics"}): ${err.message}`, { cause: err })),
    );
    server.listen(o.address.port, o.address.host, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === "object" && bound ? { host: o.address.host, port: bound.port } : o.address;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
