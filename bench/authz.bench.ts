// `npm run bench authz`: policy load and compile time for 1,000 services x 100 callers each, and
// decisions per second of the evaluator behind `spindle authz check`.
import { performance } from "node:perf_hooks";
import { compileAll, evaluate, loadPolicy, renderAllServices, type AccessRequest } from "../src/authz/index.js";

const SERVICES = 1000;

/** 100 callers per service: 90 exact IDs over 9 namespaces, 5 path prefixes, 5 trust domains. */
function callers(s: number): { exact: string[]; wide: string[] } {
  const exact = Array.from({ length: 90 }, (_, i) => `spiffe://example.org/ns/team-${(s + i) % 9}/sa/client-${(s * 7 + i) % 500}`);
  const wide = [
    ...Array.from({ length: 5 }, (_, i) => `spiffe://example.org/ns/batch-${(s + i) % 20}/*`),
    ...Array.from({ length: 5 }, (_, i) => `spiffe://partner-${(s + i) % 50}.org/*`),
  ];
  return { exact, wide };
}

function policyText(): string {
  const out = ["version: 1", "services:"];
  for (let s = 0; s < SERVICES; s++) {
    const { exact, wide } = callers(s);
    out.push(
      `  spiffe://example.org/ns/svc-${s}/sa/api:`,
      "    deny:",
      `      - from: [${exact[0]}]`,
      "        methods: [DELETE]",
      "    allow:",
      `      - from: [${exact.slice(0, 60).join(", ")}]`,
      "        methods: [GET, POST]",
      "        paths: [/v1/*, /healthz]",
      "        ports: [8443]",
      `      - from: [${exact.slice(60).join(", ")}, ${wide.slice(0, 5).join(", ")}]`,
      "        methods: [GET]",
      `      - from: [${wide.slice(5).join(", ")}]`,
      "        headers: {x-tenant: \"*\"}",
    );
  }
  return `${out.join("\n")}\n`;
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { ms: Math.round((performance.now() - t0) * 10) / 10, value };
}

export default async () => {
  const text = policyText();
  const load = time(() => loadPolicy(text, "bench.yaml"));
  const policy = load.value.policy;
  if (!policy) throw new Error(`bench policy invalid: ${load.value.problems[0]?.message}`);
  compileAll(policy, { filter: "http" }); // warm-up
  const compileHttp = time(() => compileAll(policy, { filter: "http" }));
  const compileNetwork = time(() => compileAll(policy, { filter: "network" }));
  const render = time(() => renderAllServices(compileHttp.value, "json"));
  const principals = compileHttp.value.reduce((n, r) => n + Object.values(r.filters[1]!.typed_config.rules.policies).reduce((m, p) => m + p.principals.length, 0), 0);

  const requests: { service: number; req: AccessRequest }[] = [];
  const methods = ["GET", "POST", "DELETE"];
  for (let i = 0; i < 10_000; i++) {
    const s = (i * 31) % SERVICES;
    const { exact, wide } = callers(i % 3 === 0 ? s : s + 1);
    const from = i % 5 === 0 ? wide[i % 10]!.replace("*", "x/y") : exact[i % 90]!;
    requests.push({ service: s, req: { from, method: methods[i % 3]!, path: i % 2 ? "/v1/x" : "/admin", port: 8443, headers: {} } });
  }
  const services = policy.services;
  let allowed = 0;
  const rounds = 20;
  const check = time(() => {
    for (let r = 0; r < rounds; r++) for (const { service, req } of requests) if (evaluate(services[service]!, req).allowed) allowed++;
  });
  const decisions = requests.length * rounds;
  return {
    services: SERVICES,
    callersPerService: 100,
    policyBytes: text.length,
    loadMs: load.ms,
    compileHttpMs: compileHttp.ms,
    compileNetworkMs: compileNetwork.ms,
    renderJsonMs: render.ms,
    renderedBytes: render.value.length,
    allowPrincipalMatchers: principals,
    checkDecisions: decisions,
    checkAllowedFraction: Math.round((allowed / decisions) * 1000) / 1000,
    checkDecisionsPerSecond: Math.round(decisions / (check.ms / 1000)),
  };
};
