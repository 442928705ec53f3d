// The agent's own Prometheus metrics (besides spindle_xds_* from src/sds): readiness, entries,
// SVIDs served, the agent SVID's remaining lifetime and the sync failure streak, read at scrape
// time from the running parts.
import { Gauge, type Registry } from "prom-client";

export interface AgentMetricsSources {
  ready(): boolean;
  entries(): number;
  /** Epoch ms; undefined before attestation. */
  agentSvidNotAfter(): number | undefined;
  syncFailures(): number;
  now(): number;
}

export function registerAgentMetrics(registry: Registry, s: AgentMetricsSources): void {
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
    name: "spindle_agent_sync_failures",
    help: "Consecutive failed sync rounds (0 when the last one succeeded)",
    registers,
    collect() {
      this.set(s.syncFailures());
    },
  });
}
