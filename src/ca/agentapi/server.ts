// Serves the AgentService (gRPC over HTTP/2, TLS 1.3 only). The server presents an X.509-SVID for
// spiffe://<td>/spindle/server (ServerSvidSource: re-minted at half its lifetime and on every CA
// change; shared with the federation bundle endpoint when the caller passes one). Client
// certificates are requested but checked per RPC (peer.ts), because Attest has none.
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { createContextValues } from "@connectrpc/connect";
import { spindleError } from "../../common/errors.js";
import { createServerSvidSource, type ServerSvid, type ServerSvidSource } from "../authority/server-svid.js";
import { AgentService } from "../../gen/spindle/agent/v1/agent_pb.js";
import { serverSpiffeId } from "../registration/entry.js";
import { PEER_CHAIN, resolveAgentApi, type AgentApiOptions } from "./deps.js";
import { errorMappingInterceptor } from "./errors.js";
import { peerChain } from "./peer.js";
import { createConnectHandler } from "../../transport/connect-handler.js";
import { createAgentServiceImpl } from "./service.js";

const CLOSE_GRACE_MS = 2000;

export interface AgentApiServerOptions extends AgentApiOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** DNS SANs of the server SVID (host names agents dial), besides its SPIFFE ID. */
  dnsNames?: readonly string[];
  /** The server SVID to present; by default one is minted (with dnsNames) and closed with the server. */
  serverSvid?: ServerSvidSource;
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
  const ownSvid = options.serverSvid === undefined;
  const svids =
    options.serverSvid ?? createServerSvidSource({ ca: options.ca, spiffeId: id, dnsNames: options.dnsNames ?? [], clock, logger });
  const tlsOf = (svid: ServerSvid) => ({ key: svid.keyPem, cert: svid.certPem, minVersion: "TLSv1.3" as const });

  const handler = createConnectHandler({
    routes: (router) => router.service(AgentService, createAgentServiceImpl(api)),
    interceptors: [errorMappingInterceptor(logger)],
    contextValues: (req) => createContextValues().set(PEER_CHAIN, peerChain(req.stream.session!.socket as TLSSocket)),
    logger,
  });
  const server: Http2SecureServer = createSecureServer(
    { ...tlsOf(svids.current()), requestCert: true, rejectUnauthorized: false, allowHTTP1: false },
    handler,
  );
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  const unsubscribe = svids.onRotate((svid) => {
    server.setSecureContext(tlsOf(svid));
    logger.debug({ spiffeId: id }, "agent API server SVID renewed");
  });
  const release = () => {
    unsubscribe();
    if (ownSvid) svids.close();
  };
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(spindleError("ERR_SERVER_START", `agent API cannot listen on ${options.host}:${options.port}: ${err.message}`, { cause: err })));
    server.listen(options.port, options.host, () => resolve());
  }).catch((err: unknown) => {
    release();
    api.dispose();
    throw err;
  });
  const bound = server.address() as AddressInfo;
  logger.info({ host: bound.address, port: bound.port, spiffeId: id, attestors: [...options.attestors.keys()] }, "agent API listening");
  return {
    address: { host: bound.address, port: bound.port },
    serverId: id,
    currentChain: () => svids.current().chain,
    close: () =>
      new Promise<void>((resolve) => {
        release();
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
