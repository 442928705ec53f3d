// The SPIFFE Workload API service (Workload API standard) for the agent's shared grpc-js socket
// server (one socket with SDS): three full-state streams, FetchJWTSVID with a half-life cache,
// ValidateJWTSVID against the caller's own and federated bundles, and the WIT RPCs refused with
// Unimplemented. Callers are identified only by their kernel peer credentials. At info each grant
// (FetchX509SVID's first message, FetchJWTSVID) and refusal is one line of the identity log,
// rate-limited per caller and outcome; per-call lines are at debug (docs/logging.md).
import { create, type JsonObject } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { systemClock, type Clock } from "../../common/clock.js";
import { SpindleError, spindleError } from "../../common/errors.js";
import { grpcServiceDefinition } from "../../transport/grpc-service.js";
import type { GrpcSocketServer, PeerSource } from "../../transport/grpc-socket-server.js";
import { CALLER_REFUSAL_CODES, createIdentityLog, type IdentityLog } from "../../common/identity-log.js";
import { createLogRateLimiter, logLimited, summarizeList } from "../../common/log-rate-limit.js";
import type { Logger } from "../../common/logger.js";
import type { PeerCredentials } from "../../transport/peer-cred.js";
import {
  JWTBundlesResponseSchema,
  JWTSVIDResponseSchema,
  SpiffeWorkloadAPI,
  ValidateJWTSVIDResponseSchema,
  X509BundlesResponseSchema,
  X509SVIDResponseSchema,
  type JWTSVIDRequest,
  type JWTSVIDResponse,
  type ValidateJWTSVIDRequest,
  type ValidateJWTSVIDResponse,
} from "../../gen/workload_pb.js";
import { validateJwtSvid } from "../../spiffe/jwt-svid.js";
import { parseSpiffeId } from "../../spiffe/spiffe-id.js";
import { checkWorkloadMetadata, createCallerResolver, toStatusError } from "./caller.js";
import type { IdentitySource, WorkloadAttestor } from "./contracts.js";
import { createJwtSvidCache } from "./jwt-svid-cache.js";
import { buildJwtBundlesResponse, buildX509BundlesResponse, buildX509SvidResponse, callerBundleSet, uniqueIdentities } from "./responses.js";
import { serveStream } from "./streams.js";

export interface WorkloadApiServiceOptions {
  attestor: WorkloadAttestor;
  source: IdentitySource;
  logger: Logger;
  /** From the socket server: the kernel credentials of a call's connection. */
  peerCredentials(call: PeerSource): PeerCredentials | undefined;
  clock?: Clock;
  /** Bound of the JWT-SVID cache (tokens per SPIFFE ID and audience set). Default 4096. */
  jwtCacheSize?: number;
  /** Leeway for exp/nbf/iat in ValidateJWTSVID, seconds (default: the validator's). */
  jwtLeewaySeconds?: number;
  /** Where grants and refusals are logged; shared with SDS so both count against one limit. */
  identityLog?: IdentityLog;
}

export interface WorkloadApiService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
  /** Open FetchX509SVID / FetchX509Bundles / FetchJWTBundles streams. */
  openStreams(): number;
}

type Attested = { selectors?: readonly string[] };

export function createWorkloadApiService(options: WorkloadApiServiceOptions): WorkloadApiService {
  const { source } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger.child({ component: "workload-api" });
  const warnings = createLogRateLimiter({ clock });
  const identityLog = options.identityLog ?? createIdentityLog({ logger: options.logger, clock });
  const resolver = createCallerResolver({ ...options, warnings });
  const jwtCache = createJwtSvidCache({ mint: (id, aud) => source.mintJwtSvid(id, aud), clock, maxEntries: options.jwtCacheSize });
  let open = 0;
  let seq = 0;
  const streamHooks = { onOpen: () => void open++, onClose: () => void open-- };

  const stream =
    <S extends Parameters<typeof serveStream>[0]["schema"]>(rpc: string, schema: S, build: Parameters<typeof serveStream<S>>[0]["build"]) =>
    (call: grpc.ServerWritableStream<unknown, never>): void =>
      serveStream({
        call,
        schema,
        resolver,
        source,
        build,
        rpc,
        peer: options.peerCredentials(call),
        identityLog,
        grants: rpc === "FetchX509SVID",
        warnings,
        log: logger.child({ rpc, streamId: ++seq }),
        ...streamHooks,
      });

  // `attested` receives the caller's selectors once known, for a refusal line after attestation.
  function unary<Req, Res>(rpc: string, handler: (call: grpc.ServerUnaryCall<Req, Res>, log: Logger, attested: Attested) => Promise<Res>) {
    return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
      const log = logger.child({ rpc, callId: ++seq });
      const attested: Attested = {};
      handler(call, log, attested).then(
        (res) => callback(null, res),
        (err: unknown) => {
          const e = SpindleError.from(err);
          const line = { code: e.code, err: e.message, cause: e.cause instanceof Error ? e.cause.message : undefined };
          if (CALLER_REFUSAL_CODES.has(e.code)) {
            const peer = options.peerCredentials(call);
            identityLog.refused({ rpc, pid: peer?.pid, uid: peer?.uid, selectors: attested.selectors, err: e });
            log.debug(line, "call failed");
          } else {
            logLimited(warnings, `call-error:${rpc}:${e.code}`, log, "warn", line, "call failed");
          }
          callback(toStatusError(e));
        },
      );
    };
  }

  async function fetchJwtSvid(call: grpc.ServerUnaryCall<JWTSVIDRequest, JWTSVIDResponse>, log: Logger, attested: Attested): Promise<JWTSVIDResponse> {
    checkWorkloadMetadata(call.metadata);
    const audience = call.request.audience;
    if (audience.length === 0 || audience.some((a) => a === "")) {
      throw spindleError("ERR_INVALID_ARGUMENT", "audience must be specified: at least one non-empty audience is required");
    }
    const wanted = call.request.spiffeId === "" ? undefined : parseRequestedId(call.request.spiffeId);
    const caller = await resolver.resolve(call, log);
    attested.selectors = caller.selectorText;
    let identities = uniqueIdentities(resolver.identities(caller));
    if (wanted !== undefined) {
      identities = identities.filter((i) => i.spiffeId === wanted);
      if (identities.length === 0) {
        caller.log.debug({ requested: wanted }, "caller asked for a SPIFFE ID none of its entries grants (PermissionDenied)");
        throw spindleError("ERR_WORKLOAD_NO_IDENTITY", `no identity issued: this workload is not entitled to ${wanted}`);
      }
    }
    const svids = await Promise.all(
      identities.map(async (identity) => ({ spiffeId: identity.spiffeId, svid: (await jwtCache.get(identity.spiffeId, audience)).token, hint: identity.hint ?? "" })),
    );
    const ids = svids.map((s) => s.spiffeId);
    identityLog.granted({ rpc: "FetchJWTSVID", pid: caller.peer.pid, uid: caller.peer.uid, selectors: caller.selectorText, spiffeIds: ids });
    if (caller.log.isLevelEnabled("debug")) {
      const { shown, total } = summarizeList(ids);
      caller.log.debug({ spiffeIds: shown, spiffeIdCount: total, audience }, "JWT-SVIDs handed out (minted or cached)");
    }
    return create(JWTSVIDResponseSchema, { svids });
  }

  async function validateJwt(call: grpc.ServerUnaryCall<ValidateJWTSVIDRequest, ValidateJWTSVIDResponse>, log: Logger, attested: Attested): Promise<ValidateJWTSVIDResponse> {
    checkWorkloadMetadata(call.metadata);
    const { audience, svid } = call.request;
    if (audience === "") throw spindleError("ERR_INVALID_ARGUMENT", "audience must be specified");
    if (svid === "") throw spindleError("ERR_INVALID_ARGUMENT", "svid must be specified");
    const caller = await resolver.resolve(call, log);
    attested.selectors = caller.selectorText;
    const bundles = callerBundleSet(resolver.identities(caller), source.bundles());
    const info = await validateJwtSvid(svid, bundles, { audience, now: clock.now(), leewaySeconds: options.jwtLeewaySeconds });
    caller.log.debug({ subject: info.spiffeId.toString(), audience }, "validated a JWT-SVID");
    return create(ValidateJWTSVIDResponseSchema, {
      spiffeId: info.spiffeId.toString(),
      // protobuf-es v2 represents google.protobuf.Struct fields as plain JSON objects.
      claims: info.claims as JsonObject,
    });
  }

  const unimplemented = (rpc: string) => (call: grpc.ServerWritableStream<unknown, never>) => {
    let err: SpindleError;
    try {
      checkWorkloadMetadata(call.metadata);
      err = spindleError("ERR_UNIMPLEMENTED", `${rpc} is not supported by this agent (WIT-SVIDs are not issued)`);
    } catch (e) {
      err = SpindleError.from(e);
    }
    logger.debug({ rpc, code: err.code }, "refusing an unsupported call");
    call.emit("error", toStatusError(err));
  };

  return {
    definition: grpcServiceDefinition(SpiffeWorkloadAPI),
    implementation: {
      fetchX509SVID: stream("FetchX509SVID", X509SVIDResponseSchema, buildX509SvidResponse),
      fetchX509Bundles: stream("FetchX509Bundles", X509BundlesResponseSchema, buildX509BundlesResponse),
      fetchJWTBundles: stream("FetchJWTBundles", JWTBundlesResponseSchema, buildJwtBundlesResponse),
      fetchJWTSVID: unary("FetchJWTSVID", fetchJwtSvid),
      validateJWTSVID: unary("ValidateJWTSVID", validateJwt),
      fetchWITSVID: unimplemented("FetchWITSVID"),
      fetchWITBundles: unimplemented("FetchWITBundles"),
    } as grpc.UntypedServiceImplementation,
    openStreams: () => open,
  };
}

function parseRequestedId(text: string): string {
  try {
    return parseSpiffeId(text).toString();
  } catch (err) {
    throw spindleError("ERR_INVALID_ARGUMENT", `spiffe_id ${JSON.stringify(text)} is not a valid SPIFFE ID: ${SpindleError.from(err).message}`, { cause: err });
  }
}

/** Registers the Workload API on the agent's shared socket server (next to SDS). */
export function addWorkloadApi(server: GrpcSocketServer, deps: Omit<WorkloadApiServiceOptions, "peerCredentials">): WorkloadApiService {
  const service = createWorkloadApiService({ ...deps, peerCredentials: (call) => server.peerCredentials(call) });
  server.addService(service.definition, service.implementation);
  return service;
}
