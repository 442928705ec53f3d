// Per-call metrics of the agent's public socket, taken by one grpc-js server interceptor placed
// closest to the transport, so it sees every status a call ends with (handler errors, refused
// undecodable messages, client cancellations): calls and latency by method and gRPC code, open
// streams, and how the caller's attestation ended for the Workload API, SDS and ECDS
// (docs/metrics.md). The outcome comes from the `spindle-error-code` trailer (src/transport/wire-errors.ts).
import * as grpc from "@grpc/grpc-js";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { ERROR_CODE_KEY } from "../transport/wire-errors.js";

/** Short `service` label of each service on the public socket. */
const SERVICES: Readonly<Record<string, string>> = {
  SpiffeWorkloadAPI: "workload_api",
  "envoy.service.secret.v3.SecretDiscoveryService": "sds",
  "envoy.service.extension.v3.ExtensionConfigDiscoveryService": "ecds",
  "grpc.health.v1.Health": "health",
};

/** Services whose calls identify the caller (its attestation outcome is counted). */
const ATTESTED = new Set(["workload_api", "sds", "ecds"]);

/** `outcome` label of a refused caller, by the error code its call ended with. */
export const REFUSAL_OUTCOMES: Readonly<Record<string, string>> = {
  ERR_WORKLOAD_NO_IDENTITY: "no_entry",
  ERR_XDS_RESOURCE_DENIED: "resource_denied",
  ERR_WORKLOAD_SVID_PENDING: "svid_pending",
  ERR_WORKLOAD_API_NOT_READY: "not_ready",
  ERR_WORKLOAD_ATTESTATION: "attestation_failed",
  ERR_WORKLOAD_ATTESTOR_UNAVAILABLE: "attestor_unavailable",
  ERR_PEER_CREDENTIALS: "peer_unknown",
  ERR_WORKLOAD_API_METADATA: "missing_security_header",
};

const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(grpc.status)
    .filter((e): e is [string, number] => typeof e[1] === "number")
    .map(([name, n]) => [n, name]),
);

export interface RpcMetricsOptions {
  registry: Registry;
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
}

/** Splits `/package.Service/Method` into the service label and the method name. */
export function methodLabels(path: string): { service: string; method: string } {
  const [, service = "", method = ""] = path.split("/");
  return { service: SERVICES[service] ?? service, method };
}

export function createRpcMetricsInterceptor(options: RpcMetricsOptions): grpc.ServerInterceptor {
  const registers = [options.registry];
  const now = options.now ?? (() => performance.now());
  const calls = new Counter({ name: "spindle_agent_rpc_calls_total", help: "Calls on the public socket that ended, by service, method and gRPC status code", labelNames: ["service", "method", "code"], registers });
  const duration = new Histogram({
    name: "spindle_agent_rpc_duration_seconds",
    help: "Time from a call's start to its status (for streams: the stream's lifetime), by service, method and gRPC status code",
    labelNames: ["service", "method", "code"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300, 3600],
    registers,
  });
  const streams = new Gauge({ name: "spindle_agent_rpc_streams_open", help: "Open streaming calls on the public socket, by service and method", labelNames: ["service", "method"], registers });
  const outcomes = new Counter({
    name: "spindle_agent_workload_attestations_total",
    help: "How identifying a caller ended, by service: granted (an answer was sent) or the refusal reason",
    labelNames: ["service", "outcome"],
    registers,
  });

  // Labelled children cached per method (and code, outcome): label hashing on every call of
  // thousands of streams adds up, as in src/sds/xds-metrics.ts.
  interface Children {
    labels: { service: string; method: string };
    streams: Gauge.Internal<string>;
    ended: Map<number, { calls: Counter.Internal; duration: Histogram.Internal<string> }>;
    outcomes: Map<string, Counter.Internal>;
  }
  const byPath = new Map<string, Children>();
  const childrenOf = (path: string): Children => {
    let c = byPath.get(path);
    if (c === undefined) {
      const labels = methodLabels(path);
      c = { labels, streams: streams.labels(labels), ended: new Map(), outcomes: new Map() };
      byPath.set(path, c);
    }
    return c;
  };
  const endedOf = (c: Children, code: number) => {
    let e = c.ended.get(code);
    if (e === undefined) {
      const l = { ...c.labels, code: CODE_NAMES[code] ?? String(code) };
      e = { calls: calls.labels(l), duration: duration.labels(l) };
      c.ended.set(code, e);
    }
    return e;
  };
  const outcome = (c: Children, name: string) => {
    let o = c.outcomes.get(name);
    if (o === undefined) c.outcomes.set(name, (o = outcomes.labels({ service: c.labels.service, outcome: name })));
    o.inc();
  };

  return (method, next) => {
    const c = childrenOf(method.path);
    const streaming = method.responseStream || method.requestStream;
    const attested = ATTESTED.has(c.labels.service);
    const started = now();
    let answered = false;
    let ended = false;
    if (streaming) c.streams.inc();
    const end = (code: number, errorCode: string | undefined) => {
      if (ended) return;
      ended = true;
      const e = endedOf(c, code);
      e.calls.inc();
      e.duration.observe((now() - started) / 1000);
      if (streaming) c.streams.dec();
      const refusal = errorCode === undefined ? undefined : REFUSAL_OUTCOMES[errorCode];
      if (attested && !answered && refusal !== undefined) outcome(c, refusal);
    };
    return new grpc.ServerInterceptingCall(next, {
      start(nextStart) {
        nextStart({ onCancel: () => end(grpc.status.CANCELLED, undefined) });
      },
      sendMessage(message, nextMessage) {
        if (!answered) {
          answered = true;
          if (attested) outcome(c, "granted");
        }
        nextMessage(message);
      },
      sendStatus(status, nextStatus) {
        const code = status.metadata?.get(ERROR_CODE_KEY)[0];
        end(status.code, typeof code === "string" ? code : undefined);
        nextStatus(status);
      },
    });
  };
}
