// The agent's plain-HTTP /live, /ready and /metrics endpoints (health_address in the config).
// /ready answers 200 only once the first sync with the server made identities servable.
import { createServer } from "node:http";
import type { Registry } from "prom-client";
import { spindleError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

export interface AgentHttpOptions {
  host: string;
  port: number;
  ready(): { ready: boolean; reason?: string };
  registry: Registry;
  logger: Logger;
}

export interface AgentHttp {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startAgentHttp(o: AgentHttpOptions): Promise<AgentHttp> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n");
    if (path === "/live") return send(200, "ok\n");
    if (path === "/ready") {
      const r = o.ready();
      return send(r.ready ? 200 : 503, r.ready ? "ready\n" : `not ready: ${r.reason ?? "starting"}\n`);
    }
    if (path === "/metrics") {
      o.registry.metrics().then(
        (text) => send(200, text, o.registry.contentType),
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
    server.once("error", (err) => reject(spindleError("ERR_AGENT_START", `cannot listen on ${o.host}:${o.port} (health): ${err.message}`, { cause: err })));
    server.listen(o.port, o.host, () => resolve());
  });
  const bound = server.address();
  return {
    address: { host: o.host, port: typeof bound === "object" && bound ? bound.port : o.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
