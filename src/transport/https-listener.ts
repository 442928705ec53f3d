// A small read-only HTTP(S) listener for public documents (the federation bundle endpoint, OIDC
// discovery): GET/HEAD on fixed paths, a Host allow-list, /live and /ready, and TLS files re-read
// when they change. Answers are defined for everything else: 405 with Allow for other methods on a
// known path (RFC 9110 section 15.5.6), 404 for unknown paths, 400 for a Host outside the list.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Clock } from "../common/clock.js";
import { spindleError, type ErrorCode } from "../common/errors.js";
import { formatHostPort, type HostPort } from "./http-endpoints.js";
import type { Logger } from "../common/logger.js";
import { INTERMEDIATE_TLS, startTlsReloader, type TlsFiles, type TlsReloader } from "./tls-files.js";

export interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}

/** Answers GET (and HEAD, whose body is dropped) on one path. Never sees the Host header. */
export type RouteHandler = () => HttpAnswer | Promise<HttpAnswer>;

export interface PublicListenerOptions {
  address: HostPort;
  /** TLS identity; undefined serves plain HTTP (behind a TLS-terminating proxy only). */
  tls: TlsFiles | undefined;
  /** How often cert_file/key_file are checked for changes. Default 10 s. */
  tlsReloadIntervalMs?: number;
  /** Exact paths (no query) to handlers. Must not include /live or /ready. */
  routes: Readonly<Record<string, RouteHandler>>;
  /**
   * Host names (no port) accepted in the Host header, case-insensitive. Empty or undefined
   * accepts any Host. /live and /ready are exempt (probes address the pod or node IP).
   */
  allowedHosts?: readonly string[];
  /** /ready answers 200 only when this says ready. */
  ready(): { ready: boolean; reason?: string } | Promise<{ ready: boolean; reason?: string }>;
  /** Names the listener in logs and errors ("OIDC discovery", "bundle endpoint"). */
  name: string;
  startErrorCode: ErrorCode;
  clock: Clock;
  logger: Logger;
}

export interface PublicListener {
  readonly address: HostPort;
  readonly scheme: "https" | "http";
  /** Checks the TLS files now (tests, SIGHUP); true when a new pair was installed. */
  reloadTls(): boolean;
  close(): Promise<void>;
}

const ALLOW = "GET, HEAD";
const HEALTH = new Set(["/live", "/ready"]);

/** The host part of a Host header value, lower-cased; undefined when it is not host[:port]. */
export function hostOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._~-]+))(?::\d{1,5})?$/.exec(header.trim());
  if (!m) return undefined;
  return (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, "");
}

export async function startPublicListener(o: PublicListenerOptions): Promise<PublicListener> {
  for (const p of Object.keys(o.routes)) {
    if (!p.startsWith("/") || HEALTH.has(p)) throw new TypeError(`${o.name}: route ${JSON.stringify(p)} must be an absolute path other than /live and /ready`);
  }
  const allowed = new Set((o.allowedHosts ?? []).map((h) => h.toLowerCase().replace(/\.$/, "")));

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const send = (a: HttpAnswer) => {
      const body = typeof a.body === "string" ? Buffer.from(a.body, "utf8") : a.body;
      res.writeHead(a.status, {
        "content-type": "text/plain; charset=utf-8",
        "x-content-type-options": "nosniff",
        ...a.headers,
        "content-length": String(body.length),
      });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    const text = (status: number, body: string, headers?: Record<string, string>) => send({ status, body, ...(headers ? { headers } : {}) });
    const target = req.url ?? "";
    // Only origin-form targets (RFC 9112 section 3.2.1); an absolute-form URL names some other host.
    if (!target.startsWith("/")) return text(400, "bad request: the request target must be a path\n");
    const path = target.split("?")[0]!;
    const known = HEALTH.has(path) || Object.hasOwn(o.routes, path);
    if (!known) return text(404, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, `method not allowed; use ${ALLOW}\n`, { allow: ALLOW });
    if (path === "/live") return text(200, "ok\n");
    if (path === "/ready") {
      Promise.resolve()
        .then(() => o.ready())
        .then(
          (r) => text(r.ready ? 200 : 503, r.ready ? "ready\n" : `not ready: ${r.reason ?? "starting"}\n`),
          (err: unknown) => text(503, `not ready: ${(err as Error).message}\n`),
        );
      return;
    }
    if (allowed.size > 0) {
      const host = hostOf(req.headers.host);
      if (host === undefined || !allowed.has(host)) {
        o.logger.debug({ host: req.headers.host, path }, `${o.name}: Host not in the allow-list; answered 400`);
        return text(400, `bad request: Host ${JSON.stringify(req.headers.host ?? "")} is not served here\n`);
      }
    }
    Promise.resolve()
      .then(() => o.routes[path]!())
      .then(send, (err: unknown) => {
        o.logger.error({ err, path }, `${o.name}: handler failed`);
        text(500, "internal error\n");
      });
  };

  let server: Server;
  let reloader: TlsReloader | undefined;
  if (o.tls) {
    const s = createHttpsServer({ ...INTERMEDIATE_TLS }, handle);
    reloader = startTlsReloader({
      files: o.tls,
      install: (pair) => s.setSecureContext({ ...INTERMEDIATE_TLS, cert: pair.cert, key: pair.key }),
      intervalMs: o.tlsReloadIntervalMs ?? 10_000,
      clock: o.clock,
      logger: o.logger,
      errorCode: o.startErrorCode,
    });
    server = s;
  } else {
    server = createHttpServer(handle);
  }
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) =>
        reject(spindleError(o.startErrorCode, `cannot listen on ${formatHostPort(o.address)} (${o.name}): ${err.message}`, { cause: err })),
      );
      server.listen(o.address.port, o.address.host, () => resolve());
    });
  } catch (err) {
    reloader?.stop();
    throw err;
  }
  const bound = server.address();
  const address = typeof bound === "object" && bound ? { host: o.address.host, port: bound.port } : o.address;
  return {
    address,
    scheme: o.tls ? "https" : "http",
    reloadTls: () => reloader?.check() ?? false,
    close: () =>
      new Promise<void>((resolve) => {
        reloader?.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
