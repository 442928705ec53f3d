// The agent's own Prometheus metrics (besides spindle_xds_* from src/sds and the per-call ones of
// rpc-metrics.ts): readiness, entries, the remaining lifetime of the agent SVID and of the soonest
// workload SVID and the sync failure streak, read at scrape time from the running parts; and the
// counters the agent's parts report to (SVIDs issued, sync rounds, federated bundle updates).
// docs/metrics.md lists them.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface AgentMetricsSources {
  ready(): boolean;
  entries(): number;
  /** Epoch ms; undefined before attestation. */
  agentSvidNotAfter(): number | undefined;
  syncFailures(): number;
  /** The soonest-expiring workload X.509-SVID held (notAfter in epoch ms); undefined when none is. */
  soonestWorkloadSvid(): { spiffeId: string; notAfter: number } | undefined;
  now(): number;
}

export type SvidKind = "agent" | "workload";

/** What the agent's parts report as it happens. */
export interface AgentMetricsRecorder {
  /** A new SVID is in use (the agent's own, or one workload X.509-SVID issued or renewed). */
  svidIssued(kind: SvidKind, count?: number): void;
  /** One sync request to the server ended; `errorCode` when it failed. */
  synced(seconds: number, errorCode?: string): void;
  /** The bundle of a federated trust domain was added, changed or removed by a sync. */
  federatedBundleUpdated(trustDomain: string): void;
}

export function registerAgentMetrics(registry: Registry, s: AgentMetricsSources): AgentMetricsRecorder {
  const registers = [registry];
  new Gauge({
    name: "spindle_agent_ready",
    help: "1 once the first sync with the server completed and identities are served",
    registers,
    collect() {
      this.set(s.ready() ? 1 : 0);
    },
  });
  new Gauge({
    name: "spindle_agent_entries",
    help: "Registration entries this agent holds",
    registers,
    collect() {
      this.set(s.entries());
    },
  });
  new Gauge({
    name: "spindle_agent_svid_expiry_seconds",
    help: "Seconds until the agent's own SVID expires (negative: expired)",
    registers,
    collect() {
      const notAfter = s.agentSvidNotAfter();
      if (notAfter !== undefined) this.set((notAfter - s.now()) / 1000);
    },
  });
  new Gauge({
    name: "spindle_agent_workload_svid_soonest_expiry_seconds",
    help: "Seconds until the soonest-expiring workload X.509-SVID the agent holds expires, labelled with its SPIFFE ID (absent when it holds none)",
    // The label keeps the series absent while no SVID is held (an unlabelled gauge always reports a value).
    labelNames: ["spiffe_id"],
    registers,
    collect() {
      this.reset();
      const soonest = s.soonestWorkloadSvid();
      if (soonest !== undefined) this.set({ spiffe_id: soonest.spiffeId }, (soonest.notAfter - s.now()) / 1000);
    },
  });
  new Gauge({
    name: "spindle_agent_sync_failures",
    help: "Consecutive failed sync rounds (0 when the last one succeeded)",
    registers,
    collect() {
      this.set(s.syncFailures());
    },
  });
  const issued = new Counter({ name: "spindle_agent_svid_rotations_total", help: "SVIDs put in use: the agent's own (renewed or re-attested) and workload X.509-SVIDs (issued or renewed)", labelNames: ["kind"], registers });
  const syncs = new Histogram({
    name: "spindle_agent_sync_duration_seconds",
    help: "Duration of the sync requests to the server, by result (ok or error)",
    labelNames: ["result"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const syncErrors = new Counter({ name: "spindle_agent_sync_errors_total", help: "Failed sync requests to the server, by Spindle error code", labelNames: ["code"], registers });
  const federated = new Counter({ name: "spindle_agent_federated_bundle_updates_total", help: "Federated bundles added, changed or removed by a sync, by trust domain", labelNames: ["trust_domain"], registers });
  for (const kind of ["agent", "workload"] as const) issued.inc({ kind }, 0);
  for (const result of ["ok", "error"]) syncs.zero({ result });
  return {
    svidIssued: (kind, count = 1) => issued.inc({ kind }, count),
    synced(seconds, errorCode) {
      syncs.observe({ result: errorCode === undefined ? "ok" : "error" }, seconds);
      if (errorCode !== undefined) syncErrors.inc({ code: errorCode });
    },
    federatedBundleUpdated: (trustDomain) => federated.inc({ trust_domain: trustDomain }),
  };
}
