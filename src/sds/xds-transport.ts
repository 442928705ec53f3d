// Transport and lifecycle of the xDS services on the agent socket: binds grpc-js calls to the
// stream state machines. Per stream: read the kernel peer credentials, attest the caller once,
// take `node` from the first request (only that one carries it), build the resolver, feed
// requests in order, register the stream's change keys, and end the stream with a clear status
// (logged with the caller's selectors) when the stream itself cannot go on (unknown peer, wrong
// type URL, agent not ready). A name the caller cannot have is not such an error: the state
// machines keep the stream open and send it when it appears. Shared by SDS and ECDS. At info a
// stream writes at most one line: its grant (the first response with resources) or refusal, in
// the identity log, rate-limited per caller and outcome; the rest is at debug (docs/logging.md).
import { create } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import type { Node } from "../gen/envoy/config/core/v3/base_pb.js";
import {
  DiscoveryResponseSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { SpindleError, spindleError } from "../common/errors.js";
import { CALLER_REFUSAL_CODES, createIdentityLog, type IdentityLog } from "../common/identity-log.js";
import { createLogRateLimiter, logLimited } from "../common/log-rate-limit.js";
import type { Logger } from "../common/logger.js";
import type { PeerCredentials } from "../transport/peer-cred.js";
import type { PeerSource } from "../transport/grpc-socket-server.js";
import type { Caller, CallerAttestor } from "./contracts.js";
import { nodeIdOf } from "./envoy-node.js";
import { createSubscriptionIndex } from "./subscription-index.js";
import { createDeltaStream } from "./xds-delta-stream.js";
import type { XdsMetrics, XdsMode, XdsServiceName } from "./xds-metrics.js";
import type { ResourceResolver } from "./xds-resource.js";
import { createSotwStream } from "./xds-sotw-stream.js";
import { toGrpcStatus } from "../transport/wire-errors.js";
import { dedupe, newNonce, type XdsStreamContext, type XdsStreamMachine, type XdsStreamObserver } from "./xds-stream-common.js";

export interface XdsTransportOptions {
  service: XdsServiceName;
  typeUrl: string;
  logger: Logger;
  metrics: XdsMetrics;
  attestor: CallerAttestor;
  /** The socket server's lookup of a call's peer credentials. */
  peerCredentials(call: PeerSource): PeerCredentials | undefined;
  /** The resolver for one stream (or fetch), given its caller and the node of its first request. */
  resolverFor(caller: Caller, node: Node | undefined): ResourceResolver;
  /** Where grants and refusals are logged (shared with the Workload API on the agent socket). */
  identityLog?: IdentityLog | undefined;
}

export interface XdsTransport {
  readonly stream: grpc.handleBidiStreamingCall<DiscoveryRequest, DiscoveryResponse>;
  readonly delta: grpc.handleBidiStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
  readonly fetch: grpc.handleUnaryCall<DiscoveryRequest, DiscoveryResponse>;
  /** Tells every stream depending on one of `keys` to re-resolve; returns how many streams. */
  notify(keys: Iterable<string>): number;
  openStreams(): number;
  /** Resolves when every stream has processed what it was given (tests, benchmarks). */
  idle(): Promise<void>;
}

type Request = { node?: Node | undefined };

/** RPC names on the identity log's lines (Envoy's service definitions). */
const RPCS: Readonly<Record<XdsServiceName, Readonly<Record<XdsMode | "fetch", string>>>> = {
  sds: { sotw: "StreamSecrets", delta: "DeltaSecrets", fetch: "FetchSecrets" },
  ecds: { sotw: "StreamExtensionConfigs", delta: "DeltaExtensionConfigs", fetch: "FetchExtensionConfigs" },
};

/** Streams told about a change per event-loop turn. */
const NOTIFY_SLICE = 200;

export function createXdsTransport(options: XdsTransportOptions): XdsTransport {
  const { service, typeUrl, metrics, attestor } = options;
  const logger = options.logger.child({ component: service });
  const identityLog = options.identityLog ?? createIdentityLog({ logger: options.logger });
  const warnings = createLogRateLimiter();
  const index = createSubscriptionIndex<XdsStreamMachine<never>>();
  const streams = new Set<XdsStreamMachine<never>>();
  const notifying = new Set<Promise<void>>();
  let seq = 0;

  // The message names the resource for Spindle's own errors; an unexpected failure's text stays
  // in the log (src/transport/wire-errors.ts).
  const statusError = (err: SpindleError): grpc.ServerErrorResponse => toGrpcStatus(err, "agent");

  function serve<Req extends Request, Res>(
    call: grpc.ServerDuplexStream<Req, Res>,
    mode: XdsMode,
    createMachine: (ctx: XdsStreamContext<Res>) => XdsStreamMachine<Req>,
  ): void {
    const streamId = `${service}-${++seq}`;
    const rpc = RPCS[service][mode];
    const peer = options.peerCredentials(call);
    // One child logger per stream, made once the caller is known (pino children are not free at
    // 10,000 streams); until then the stream's fields go on the line itself.
    const fields = { streamId, mode, pid: peer?.pid, uid: peer?.uid };
    let log: Logger | undefined;
    let selectors: readonly string[] | undefined;
    let machine: XdsStreamMachine<Req> | undefined;
    let ended = false;
    const buffered: Req[] = [];

    const cleanup = () => {
      if (ended) return;
      ended = true;
      if (machine !== undefined) {
        machine.close();
        index.remove(machine as XdsStreamMachine<never>);
        streams.delete(machine as XdsStreamMachine<never>);
        log?.debug("stream closed");
      }
    };
    const fail = (err: SpindleError) => {
      if (ended) return;
      const line = { code: err.code, err: err.message, cause: err.cause instanceof Error ? err.cause.message : undefined };
      const target = log ?? logger;
      const lineFields = log !== undefined ? line : { ...fields, ...line };
      if (CALLER_REFUSAL_CODES.has(err.code)) {
        identityLog.refused({ rpc, pid: peer?.pid, uid: peer?.uid, selectors, err });
        target.debug(lineFields, "ending stream with an error");
      } else {
        logLimited(warnings, `stream-error:${rpc}:${err.code}`, target, "warn", lineFields, "ending stream with an error");
      }
      cleanup();
      call.emit("error", statusError(err));
    };

    const start = async (node: Node | undefined) => {
      if (peer === undefined) throw spindleError("ERR_PEER_CREDENTIALS", "the connection's peer credentials are unknown");
      const caller = await attestor.attest(peer);
      if (ended) return;
      const nodeId = nodeIdOf(node);
      const streamLog = logger.child({ ...fields, nodeId, selectors: caller.selectors });
      log = streamLog;
      selectors = caller.selectors;
      const observer = grantObserver(metrics.openStream({ service, mode, streamId, nodeId, cluster: node?.cluster ?? "", peer }), (names) =>
        identityLog.granted({ rpc, pid: peer.pid, uid: peer.uid, selectors: caller.selectors, resources: names }),
      );
      // The caller's uid and selectors prefix the key: one caller's many streams share a window.
      const callerKey = `${peer.uid}\n${caller.selectors.join("\n")}`;
      const m = createMachine({
        typeUrl,
        resolver: options.resolverFor(caller, node),
        logger: streamLog,
        observer,
        send: (response) => {
          if (!ended) call.write(response);
        },
        fail,
        setDependencies: (keys) => {
          if (!ended) index.set(m as XdsStreamMachine<never>, keys);
        },
        warnLimited: (key, lineFields, msg) => void logLimited(warnings, `${callerKey}\n${key}`, streamLog, "warn", lineFields, msg),
      });
      machine = m;
      streams.add(m as XdsStreamMachine<never>);
      streamLog.debug("stream opened");
      for (const request of buffered.splice(0)) m.onRequest(request);
    };

    call.on("data", (request: Req) => {
      if (ended) return;
      if (machine !== undefined) return machine.onRequest(request);
      buffered.push(request);
      if (buffered.length === 1) start(request.node).catch((err: unknown) => fail(SpindleError.from(err)));
    });
    call.on("end", () => {
      cleanup();
      call.end();
    });
    call.on("cancelled", cleanup);
    call.on("close", cleanup);
    call.on("error", cleanup);
  }

  const fetch: grpc.handleUnaryCall<DiscoveryRequest, DiscoveryResponse> = (call, callback) => {
    const peer = options.peerCredentials(call);
    const request = call.request;
    const rpc = RPCS[service].fetch;
    let log = logger.child({ rpc: "fetch", pid: peer?.pid, uid: peer?.uid, nodeId: nodeIdOf(request.node) });
    let selectors: readonly string[] | undefined;
    const run = async (): Promise<DiscoveryResponse> => {
      if (peer === undefined) throw spindleError("ERR_PEER_CREDENTIALS", "the connection's peer credentials are unknown");
      if (request.typeUrl !== "" && request.typeUrl !== typeUrl) {
        throw spindleError("ERR_XDS_TYPE_URL", `this service serves ${typeUrl}, not ${request.typeUrl}`);
      }
      const caller = await attestor.attest(peer);
      selectors = caller.selectors;
      log = log.child({ selectors: caller.selectors });
      const resolver = options.resolverFor(caller, request.node);
      const resolved = await Promise.all(dedupe(request.resourceNames).map((n) => resolver.resolve(n)));
      if (resolved.length > 0) identityLog.granted({ rpc, pid: peer.pid, uid: peer.uid, selectors: caller.selectors, resources: resolved.map((r) => r.name) });
      const versionInfo = createHash("sha256").update(resolved.map((r) => `${r.name}@${r.version}`).join("\n")).digest("base64url").slice(0, 16);
      return create(DiscoveryResponseSchema, { versionInfo, typeUrl, nonce: newNonce(), resources: resolved.map((r) => r.resource) });
    };
    run().then(
      (response) => callback(null, response),
      (err: unknown) => {
        const e = SpindleError.from(err);
        const line = { code: e.code, err: e.message, resources: request.resourceNames };
        if (CALLER_REFUSAL_CODES.has(e.code)) {
          identityLog.refused({ rpc, pid: peer?.pid, uid: peer?.uid, selectors, err: e });
          log.debug(line, "fetch failed");
        } else {
          logLimited(warnings, `fetch-error:${e.code}`, log, "warn", line, "fetch failed");
        }
        callback(statusError(e));
      },
    );
  };

  return {
    // SotW responses are written pre-encoded; grpc-service's serializer passes bytes through.
    stream: (call) => serve(call as unknown as grpc.ServerDuplexStream<DiscoveryRequest, Uint8Array>, "sotw", createSotwStream),
    delta: (call) => serve(call, "delta", createDeltaStream),
    fetch,
    notify(keys) {
      const affected = [...index.affected(keys)];
      // Slices with a turn of the event loop between them: the first streams' responses leave
      // the socket while later ones are still being built (one rotation can touch 10,000 streams).
      const dispatched = new Promise<void>((resolve) => {
        let i = 0;
        const slice = () => {
          for (const end = Math.min(i + NOTIFY_SLICE, affected.length); i < end; i++) affected[i]!.onChange();
          if (i < affected.length) setImmediate(slice);
          else resolve();
        };
        slice();
      });
      notifying.add(dispatched);
      void dispatched.then(() => notifying.delete(dispatched));
      return affected.length;
    },
    openStreams: () => streams.size,
    async idle() {
      await Promise.all(notifying);
      await Promise.all([...streams].map((s) => s.idle()));
    },
  };
}

/** Reports the names of the first push with resources: the stream's grant. */
function grantObserver(observer: XdsStreamObserver, granted: (names: string[]) => void): XdsStreamObserver {
  let first = true;
  return {
    acked: (resources, versionInfo) => observer.acked(resources, versionInfo),
    nacked: (resources, message) => observer.nacked(resources, message),
    unavailable: (resource) => observer.unavailable(resource),
    closed: () => observer.closed(),
    pushed(resources) {
      if (first && resources.length > 0) {
        first = false;
        granted(resources.map((r) => r.name));
      }
      observer.pushed(resources);
    },
  };
}
