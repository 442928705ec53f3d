// Prometheus metrics of a server instance, on its own registry (no global state).
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { AuthorityJournal } from "../contracts.js";

export interface ServerMetricsOptions {
  /** Current number of registration entries (read at scrape time). */
  countEntries(): Promise<number>;
  /** This replica's authorities (read at scrape time). */
  journal(): AuthorityJournal;
  now(): number;
}

export interface ServerMetrics {
  readonly registry: Registry;
  readonly signings: Counter<"type">;
  readonly datastoreErrors: Counter<"operation">;
  readonly federationRefreshes: Counter<"trust_domain" | "outcome">;
  readonly federationRefusals: Counter<"trust_domain" | "reason">;
}

export function createServerMetrics(o: ServerMetricsOptions): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "spindle_server_process_" });
  const signings = new Counter({
    name: "spindle_server_svid_signings_total",
    help: "SVIDs signed, by type (x509, jwt)",
    labelNames: ["type"] as const,
    registers: [registry],
  });
  const datastoreErrors = new Counter({
    name: "spindle_server_datastore_errors_total",
    help: "Datastore operations that failed with a driver error, by operation",
    labelNames: ["operation"] as const,
    registers: [registry],
  });
  const federationRefreshes = new Counter({
    name: "spindle_server_federation_refreshes_total",
    help: "Federated bundle refreshes that succeeded, by trust domain and outcome (updated, unchanged, superseded)",
    labelNames: ["trust_domain", "outcome"] as const,
    registers: [registry],
  });
  const federationRefusals = new Counter({
    name: "spindle_server_federation_refresh_refusals_total",
    help: "Federated bundle refreshes refused (the last good bundle stays), by trust domain and reason",
    labelNames: ["trust_domain", "reason"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "spindle_server_registration_entries",
    help: "Registration entries in the datastore",
    registers: [registry],
    async collect() {
      // A datastore outage must not break /metrics (it is counted by datastore_errors_total);
      // the gauge keeps its last value.
      try {
        this.set(await o.countEntries());
      } catch {
        return;
      }
    },
  });
  new Gauge({
    name: "spindle_server_authority_expiry_seconds",
    help: "Seconds until each of this replica's authorities expires, by kind, id and state",
    labelNames: ["kind", "id", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const j = o.journal();
      const now = o.now();
      for (const a of j.x509) this.set({ kind: "x509", id: a.id, state: a.state }, Math.round((a.notAfter - now) / 1000));
      for (const a of j.jwt) this.set({ kind: "jwt", id: a.kid, state: a.state }, Math.round((a.notAfter - now) / 1000));
    },
  });
  return { registry, signings, datastoreErrors, federationRefreshes, federationRefusals };
}
