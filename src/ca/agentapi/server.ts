// Serves the AgentService (gRPC over HTTP/2, TLS 1.3 only). The server presents an X.509-SVID for
// spiffe://<td>/spindle/server, re-minted at half its lifetime and on every CA change. Client
// certificates are requested but checked per RPC (peer.ts), because Attest has none.
import { generateKeyPairSync } from "node:crypto";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { createContextValues } from "@connectrpc/connect";
import { spindleError } from "../../common/errors.js";
import { certsToPem } from "../../common/pem.js";
import { AgentService } from "../../gen/spindle/agent/v1/agent_pb.js";
import { serverSpiffeId } from "../registration/entry.js";
import { PEER_CHAIN, resolveAgentApi, type AgentApiOptions } from "./deps.js";
import { errorMappingInterceptor } from "./errors.js";
import { peerChain } from "./peer.js";
import { createConnectHandler } from "../../common/connect-handler.js";
import { createAgentServiceImpl } from "./service.js";

const CLOSE_GRACE_MS = 2000;

export interface AgentApiServerOptions extends AgentApiOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** DNS SANs of the server SVID (host names agents dial), besides its SPIFFE ID. */
  dnsNames?: readonly string[];
}

export interface AgentApiServer {
  readonly address: { host: string; port: number };
  readonly serverId: string;
  /** The server SVID chain currently presented (DER, leaf first). */
  currentChain(): readonly Buffer[];
  close(): Promise<void>;
}

export async function startAgentApiServer(options: AgentApiServerOptions): Promise<AgentApiServer> {
  const api = resolveAgentApi(options);
  const { clock, logger } = options;
  const id = serverSpiffeId(options.trustDomain);
  let chain: Buffer[] = [];
  let cancelTimer: (() => void) | undefined;

  const mint = () => {
    const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const svid = options.ca.mintX509Svid({ spiffeId: id, publicKey: keys.publicKey, dnsNames: options.dnsNames ?? [] });
    chain = svid.chain;
    const now = clock.now();
    cancelTimer?.();
    cancelTimer = clock.setTimeout(refresh, Math.max(1000, (svid.notAfter - now) / 2));
    return { key: keys.privateKey.export({ type: "pkcs8", format: "pem" }) as string, cert: certsToPem(svid.chain) };
  };
  function refresh() {
    try {
      server.setSecureContext({ ...mint(), minVersion: "TLSv1.3" });
      logger.debug({ spiffeId: id }, "agent API server SVID renewed");
    } catch (err) {
      logger.error({ err }, "agent API server SVID renewal failed; retrying in 10 s");
      cancelTimer = clock.setTimeout(refresh, 10_000);
    }
  }

  const handler = createConnectHandler({
    routes: (router) => router.service(AgentService, createAgentServiceImpl(api)),
    interceptors: [errorMappingInterceptor(logger)],
    contextValues: (req) => createContextValues().set(PEER_CHAIN, peerChain(req.stream.session!.socket as TLSSocket)),
    logger,
  });
  const server: Http2SecureServer = createSecureServer(
    { ...mint(), minVersion: "TLSv1.3", requestCert: true, rejectUnauthorized: false, allowHTTP1: false },
    handler,
  );
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  const unsubscribe = options.ca.onChange(() => refresh());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(spindleError("ERR_SERVER_START", `agent API cannot listen on ${options.host}:${options.port}: ${err.message}`, { cause: err })));
    server.listen(options.port, options.host, () => resolve());
  }).catch((err: unknown) => {
    cancelTimer?.();
    unsubscribe();
    api.dispose();
    throw err;
  });
  const bound = server.address() as AddressInfo;
  logger.info({ host: bound.address, port: bound.port, spiffeId: id, attestors: [...options.attestors.keys()] }, "agent API listening");
  return {
    address: { host: bound.address, port: bound.port },
    serverId: id,
    currentChain: () => chain,
    close: () =>
      new Promise<void>((resolve) => {
        cancelTimer?.();
        unsubscribe();
        api.dispose();
        server.close(() => resolve());
        for (const s of sessions) s.close();
        // Streams a peer keeps open (an abandoned Attest) would hold close() forever.
        setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, CLOSE_GRACE_MS).unref();
      }),
  };
}
