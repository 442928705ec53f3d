// Metrics of the xDS services and the table of connected Envoys (what each one last ACKed, per
// resource) behind a later `spindle agent envoys` command. One instance serves SDS and ECDS; the
// prom-client Registry is injected.
import { Counter, Gauge, type Registry } from "prom-client";
import { systemClock, type Clock } from "../common/clock.js";
import type { PeerCredentials } from "../transport/peer-cred.js";
import type { ResourceVersion, XdsStreamObserver } from "./xds-stream-common.js";

export type XdsServiceName = "sds" | "ecds";
export type XdsMode = "sotw" | "delta";

/** One resource held by one connected Envoy. */
export interface EnvoyResourceStatus {
  readonly service: XdsServiceName;
  readonly resource: string;
  /** Content version last sent on the stream (undefined before the first response). */
  readonly sentVersion: string | undefined;
  /** Content version the Envoy last ACKed, and when (ISO 8601). */
  readonly ackedVersion: string | undefined;
  readonly ackedAt: string | undefined;
  /** The last NACK of this resource, if the Envoy rejected something. */
  readonly lastNack: { readonly version: string; readonly message: string; readonly at: string } | undefined;
  readonly streamId: string;
}

export interface EnvoyStatus {
  readonly nodeId: string;
  readonly cluster: string;
  readonly peer: PeerCredentials;
  readonly resources: readonly EnvoyResourceStatus[];
}

export interface XdsStreamInfo {
  readonly service: XdsServiceName;
  readonly mode: XdsMode;
  readonly streamId: string;
  readonly nodeId: string;
  readonly cluster: string;
  readonly peer: PeerCredentials;
}

export interface XdsMetrics {
  /** Counts the stream as open and returns the observer its state machine reports to. */
  openStream(info: XdsStreamInfo): XdsStreamObserver;
  /** Connected Envoys sorted by node id, their resources by service and name. */
  envoys(): EnvoyStatus[];
}

export interface XdsMetricsOptions {
  registry: Registry;
  clock?: Clock;
}

interface Row {
  info: XdsStreamInfo;
  status: { -readonly [K in keyof EnvoyResourceStatus]: EnvoyResourceStatus[K] };
}

export function createXdsMetrics(options: XdsMetricsOptions): XdsMetrics {
  const registers = [options.registry];
  const clock = options.clock ?? systemClock;
  const open = new Gauge({ name: "spindle_xds_streams_open", help: "Open SDS/ECDS streams", labelNames: ["service", "mode"], registers });
  const pushes = new Counter({ name: "spindle_xds_pushes_total", help: "Resources sent, by resource name", labelNames: ["service", "resource"], registers });
  const acks = new Counter({ name: "spindle_xds_acks_total", help: "Resources ACKed, by resource name", labelNames: ["service", "resource"], registers });
  const nacks = new Counter({ name: "spindle_xds_nacks_total", help: "Resources NACKed, by resource name", labelNames: ["service", "resource"], registers });
  // Not labelled by name: requested names come from any local process (unbounded cardinality).
  const unavailable = new Counter({
    name: "spindle_xds_unavailable_resources_total",
    help: "Requested names a stream could not serve yet (unknown, or not entitled), counted once per stream until they resolve",
    labelNames: ["service", "code"],
    registers,
  });
  const acked = new Gauge({
    name: "spindle_xds_envoy_acked_version_info",
    help: "1 for the content version each connected Envoy (node id) last ACKed, per resource",
    labelNames: ["service", "node_id", "resource", "version"],
    registers,
  });
  // Labelled children cached per (service, resource): label hashing on every push adds up at 10k streams.
  const children = new Map<string, { push: Counter.Internal; ack: Counter.Internal; nack: Counter.Internal }>();
  const counters = (service: string, resource: string) => {
    const key = `${service}\0${resource}`;
    let c = children.get(key);
    if (c === undefined) {
      const labels = { service, resource };
      c = { push: pushes.labels(labels), ack: acks.labels(labels), nack: nacks.labels(labels) };
      children.set(key, c);
    }
    return c;
  };
  // nodeId -> "service\0resource" -> row
  const table = new Map<string, Map<string, Row>>();

  function row(info: XdsStreamInfo, resource: string): Row {
    let rows = table.get(info.nodeId);
    if (rows === undefined) table.set(info.nodeId, (rows = new Map()));
    const key = `${info.service}\0${resource}`;
    let r = rows.get(key);
    if (r === undefined || r.info.streamId !== info.streamId) {
      // A newer stream of the same Envoy took the resource over.
      if (r !== undefined) dropAckedLabel(r.info, resource, r.status.ackedVersion);
      r = { info, status: { service: info.service, resource, sentVersion: undefined, ackedVersion: undefined, ackedAt: undefined, lastNack: undefined, streamId: info.streamId } };
      rows.set(key, r);
    }
    return r;
  }

  function dropAckedLabel(info: XdsStreamInfo, resource: string, version: string | undefined): void {
    if (version !== undefined) acked.remove({ service: info.service, node_id: info.nodeId, resource, version });
  }

  return {
    openStream(info) {
      const openGauge = open.labels(info.service, info.mode);
      openGauge.inc();
      const now = () => new Date(clock.now()).toISOString();
      return {
        pushed(resources: readonly ResourceVersion[]) {
          for (const r of resources) {
            counters(info.service, r.name).push.inc();
            row(info, r.name).status.sentVersion = r.version;
          }
        },
        acked(resources) {
          for (const r of resources) {
            counters(info.service, r.name).ack.inc();
            const s = row(info, r.name).status;
            if (s.ackedVersion !== r.version) dropAckedLabel(info, r.name, s.ackedVersion);
            s.ackedVersion = r.version;
            s.ackedAt = now();
            acked.set({ service: info.service, node_id: info.nodeId, resource: r.name, version: r.version }, 1);
          }
        },
        nacked(resources, message) {
          for (const r of resources) {
            counters(info.service, r.name).nack.inc();
            row(info, r.name).status.lastNack = { version: r.version, message, at: now() };
          }
        },
        unavailable(resource) {
          unavailable.labels(info.service, resource.error.code).inc();
        },
        closed() {
          openGauge.dec();
          const rows = table.get(info.nodeId);
          if (rows === undefined) return;
          for (const [key, r] of rows) {
            if (r.info.streamId !== info.streamId) continue;
            dropAckedLabel(info, r.status.resource, r.status.ackedVersion);
            rows.delete(key);
          }
          if (rows.size === 0) table.delete(info.nodeId);
        },
      };
    },
    envoys() {
      return [...table.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([nodeId, rows]) => {
          const list = [...rows.values()];
          const first = list[0]!.info;
          return {
            nodeId,
            cluster: first.cluster,
            peer: first.peer,
            resources: list
              .map((r) => ({ ...r.status, lastNack: r.status.lastNack }))
              .sort((a, b) => (a.service + a.resource < b.service + b.resource ? -1 : 1)),
          };
        });
    },
  };
}
