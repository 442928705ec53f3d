// The federation bundle endpoint of `spindle server` (SPIFFE_Federation section 4): HTTPS, no client
// authentication, `GET /` answers the trust domain's current bundle (SPIFFE_Trust_Domain_and_Bundle
// section 4) as UTF-8 `application/json`. TLS 1.2+ with Mozilla's "intermediate" TLS 1.2 suites
// (SPIFFE_Federation section 5). Two profiles (section 5.2):
//   https_spiffe  the server's own X509-SVID (spiffe://<td>/spindle/server), swapped in on every
//                 renewal without a restart (section 5.2.2.3);
//   https_web     an operator's certificate and key files, re-read when they change on disk
//                 (section 5.2.1.3).
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { Clock, Logger } from "../../common/index.js";
import { spindleError } from "../../common/errors.js";
import { formatHostPort, type HostPort } from "../../transport/http-endpoints.js";
import type { ServerSvidSource } from "../authority/server-svid.js";
import { createCertFileWatcher, type CertFileWatcher } from "./cert-files.js";

export type BundleEndpointProfile = { kind: "https_spiffe" } | { kind: "https_web"; certFile: string; keyFile: string };

/** `federation.bundle_endpoint` as resolved by the config pipeline. */
export interface BundleEndpointConfig {
  address: HostPort;
  /** spiffe_refresh_hint of the served bundle, seconds. */
  refreshHintSeconds: number;
  profile: BundleEndpointProfile;
}

// Mozilla "intermediate" TLS 1.2 suites (ECDHE only: no DH parameters are configured). TLS 1.3
// suites are OpenSSL's defaults, which are exactly the intermediate set.
const INTERMEDIATE_TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

const TLS_OPTIONS = { minVersion: "TLSv1.2", ciphers: INTERMEDIATE_TLS12_CIPHERS, honorCipherOrder: false } as const;

const ALLOWED = "GET, HEAD";

/**
 * The HTTP handler: the bundle document at `/` (a query string is ignored), 405 with `Allow` for
 * other methods there, 404 for every other path. `document()` is asked on every request, so a
 * poll always sees the current authorities (section 5.2.2.3: "the most up-to-date version").
 */
export function createBundleEndpointHandler(document: () => string): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found: the bundle is served at /\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: ALLOWED, "content-type": "text/plain; charset=utf-8" });
      res.end(`method not allowed: use ${ALLOWED}\n`);
      return;
    }
    const body = Buffer.from(document(), "utf8");
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

export interface BundleEndpointOptions {
  config: BundleEndpointConfig;
  /** The current SPIFFE bundle document (with spiffe_sequence and spiffe_refresh_hint). */
  document: () => string;
  /** Required for https_spiffe. */
  serverSvid?: ServerSvidSource;
  clock: Clock;
  logger: Logger;
  /** https_web: how often the certificate files are checked for changes. Default 5 s. */
  certCheckIntervalMs?: number;
}

export interface BundleEndpoint {
  /** The bound address (port resolved when 0 was asked for). */
  readonly address: HostPort;
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 2000;

export async function startBundleEndpoint(o: BundleEndpointOptions): Promise<BundleEndpoint> {
  const { config, logger } = o;
  const profile = config.profile;
  let initial: SecureContextOptions;
  let stopSource: () => void;
  let subscribe: (apply: (ctx: SecureContextOptions) => void) => void;
  if (profile.kind === "https_spiffe") {
    const svids = o.serverSvid;
    if (svids === undefined) throw new TypeError("startBundleEndpoint: https_spiffe needs serverSvid");
    const ctxOf = () => ({ key: svids.current().keyPem, cert: svids.current().certPem });
    initial = ctxOf();
    let unsubscribe = () => {};
    subscribe = (apply) => {
      unsubscribe = svids.onRotate(() => apply(ctxOf()));
    };
    stopSource = () => unsubscribe();
  } else {
    let watcher: CertFileWatcher;
    try {
      watcher = createCertFileWatcher({
        certFile: profile.certFile,
        keyFile: profile.keyFile,
        clock: o.clock,
        logger,
        intervalMs: o.certCheckIntervalMs ?? 5000,
      });
    } catch (err) {
      throw spindleError("ERR_SERVER_START", `federation bundle endpoint (https_web): ${(err as Error).message}`, { cause: err });
    }
    initial = watcher.current();
    subscribe = (apply) => watcher.onChange(apply);
    stopSource = () => watcher.close();
  }

  const sockets = new Set<Socket>();
  const server: Server = createServer({ ...TLS_OPTIONS, ...initial }, createBundleEndpointHandler(o.document));
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  // Handshake failures (a TLS 1.1 client, a scanner) are the peer's problem: debug only.
  server.on("tlsClientError", (err) => logger.debug({ err: err.message }, "bundle endpoint TLS handshake failed"));
  subscribe((ctx) => {
    try {
      server.setSecureContext({ ...TLS_OPTIONS, ...ctx });
      logger.info({ profile: profile.kind }, "bundle endpoint certificate replaced");
    } catch (err) {
      logger.error({ err, profile: profile.kind }, "bundle endpoint certificate could not be loaded; keeping the previous one");
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(spindleError("ERR_SERVER_START", `federation bundle endpoint cannot listen on ${formatHostPort(config.address)}: ${err.message}`, { cause: err })),
    );
    server.listen(config.address.port, config.address.host, () => resolve());
  }).catch((err: unknown) => {
    stopSource();
    throw err;
  });
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  logger.info({ address: formatHostPort(address), profile: profile.kind, refreshHintSeconds: config.refreshHintSeconds }, "federation bundle endpoint listening");
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        stopSource();
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, CLOSE_GRACE_MS).unref();
      }),
  };
}
