// The agent's own metrics read from their sources at scrape time and counted by the recorder, and
// docs/metrics.md naming every metric the agent registers.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Registry } from "prom-client";
import { createXdsMetrics } from "../sds/index.js";
import { registerAgentMetrics, type AgentMetricsSources } from "./metrics.js";
import { createRpcMetricsInterceptor } from "./rpc-metrics.js";

const NOW = 1_800_000_000_000;

function sources(over: Partial<AgentMetricsSources> = {}): AgentMetricsSources {
  return { ready: () => true, entries: () => 2, agentSvidNotAfter: () => NOW + 60_000, syncFailures: () => 0, soonestWorkloadSvid: () => undefined, now: () => NOW, ...over };
}

async function values(registry: Registry, name: string): Promise<{ labels: Record<string, string | number>; value: number; metricName?: string }[]> {
  return (await registry.getSingleMetric(name)!.get()).values as { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

test("gauges read their sources at scrape time; the soonest workload SVID expiry is absent when none is held", async () => {
  let soonest: { spiffeId: string; notAfter: number } | undefined;
  const registry = new Registry();
  registerAgentMetrics(registry, sources({ soonestWorkloadSvid: () => soonest }));
  assert.deepEqual(await values(registry, "spindle_agent_workload_svid_soonest_expiry_seconds"), []);
  soonest = { spiffeId: "spiffe://example.org/web", notAfter: NOW + 90_500 };
  assert.deepEqual((await values(registry, "spindle_agent_workload_svid_soonest_expiry_seconds")).map((v) => [v.labels["spiffe_id"], v.value]), [["spiffe://example.org/web", 90.5]]);
  soonest = undefined;
  assert.deepEqual(await values(registry, "spindle_agent_workload_svid_soonest_expiry_seconds"), []);
  assert.deepEqual((await values(registry, "spindle_agent_svid_expiry_seconds")).map((v) => v.value), [60]);
});

test("the recorder counts rotations by kind, syncs by result and error code, federated updates by trust domain", async () => {
  const registry = new Registry();
  const m = registerAgentMetrics(registry, sources());
  const rotations = async () => Object.fromEntries((await values(registry, "spindle_agent_svid_rotations_total")).map((v) => [v.labels["kind"], v.value]));
  assert.deepEqual(await rotations(), { agent: 0, workload: 0 });
  m.svidIssued("workload", 3);
  m.svidIssued("agent");
  assert.deepEqual(await rotations(), { agent: 1, workload: 3 });

  m.synced(0.02);
  m.synced(1.5, "ERR_UNAVAILABLE");
  m.synced(0.7, "ERR_UNAVAILABLE");
  const counts = (await values(registry, "spindle_agent_sync_duration_seconds")).filter((v) => v.metricName === "spindle_agent_sync_duration_seconds_count");
  assert.deepEqual(Object.fromEntries(counts.map((v) => [v.labels["result"], v.value])), { ok: 1, error: 2 });
  assert.deepEqual((await values(registry, "spindle_agent_sync_errors_total")).map((v) => [v.labels["code"], v.value]), [["ERR_UNAVAILABLE", 2]]);

  m.federatedBundleUpdated("partner.test");
  m.federatedBundleUpdated("partner.test");
  assert.deepEqual((await values(registry, "spindle_agent_federated_bundle_updates_total")).map((v) => [v.labels["trust_domain"], v.value]), [["partner.test", 2]]);
});

test("docs/metrics.md names every metric the agent registers", async () => {
  const registry = new Registry();
  registerAgentMetrics(registry, sources());
  createRpcMetricsInterceptor({ registry });
  createXdsMetrics({ registry });
  const doc = readFileSync(new URL("../../docs/metrics.md", import.meta.url), "utf8");
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
  assert.ok(names.length >= 15, names.join(","));
  for (const name of names) assert.ok(doc.includes(`\`${name}\``), `docs/metrics.md does not mention ${name}`);
});
