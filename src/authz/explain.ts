// Explains a decision for `spindle authz check`: the deciding rule with its position and, when
// nothing allowed the request, the nearest allow rule (see nearestAllowRule) and exactly what
// differed.
import type { FilterKind } from "./envoy-json.js";
import { callerNames, requestPath, type AccessRequest, type Decision, type RuleDecision } from "./evaluate.js";
import { callerMatches, hasHttpConditions, type Rule, type Service } from "./model.js";
import { droppedConditions } from "./permissions.js";

/** Every condition of `rule` the request does not meet, in words; empty when the rule matches. */
export function ruleDifferences(rule: Rule, req: AccessRequest, filter: FilterKind): string[] {
  const out: string[] = [];
  const names = callerNames(req.from);
  if (!callerMatches(rule, names)) {
    const who = names.length === 0 ? "the caller has no URI SAN (no SPIFFE ID)" : `caller ${names.join(", ")}`;
    out.push(`${who} is not matched by from: ${rule.callers.map((c) => c.text).join(", ")}`);
  }
  if (rule.ports.length > 0 && (req.port === undefined || !rule.ports.includes(req.port))) {
    out.push(`${req.port === undefined ? "no port given" : `port ${req.port}`}; the rule needs ${rule.ports.join(" or ")}`);
  }
  if (filter === "network") {
    if (rule.kind === "allow" && hasHttpConditions(rule)) {
      out.push(`the rule has HTTP-only ${droppedConditions(rule).join(", ")}, so the network filter leaves it out`);
    }
    return out;
  }
  if (rule.methods.length > 0 && (req.method === undefined || !rule.methods.includes(req.method))) {
    out.push(`${req.method === undefined ? "no method given" : `method ${req.method}`}; the rule needs ${rule.methods.join(" or ")}`);
  }
  const path = requestPath(req.path);
  if (rule.paths.length > 0 && !rule.paths.some((p) => path !== undefined && (p.kind === "exact" ? path === p.value : path.startsWith(p.value)))) {
    out.push(`${path === undefined ? "no path given" : `path ${path}`}; the rule needs ${rule.paths.map((p) => p.text).join(" or ")}`);
  }
  for (const h of rule.headers) {
    const v = req.headers?.[h.name];
    const need = h.kind === "present" ? "present" : h.kind === "exact" ? `"${h.value}"` : `starting with "${h.value}"`;
    if (v === undefined) out.push(`header ${h.name} is missing; the rule needs it ${need}`);
    else if ((h.kind === "exact" && v !== h.value) || (h.kind === "prefix" && !v.startsWith(h.value))) {
      out.push(`header ${h.name} is "${v}"; the rule needs ${need}`);
    }
  }
  return out;
}

/**
 * The allow rule nearest to the request: rules naming the caller first (the caller is rarely
 * what the user wants to change), then the fewest differences, then the earlier rule.
 */
export function nearestAllowRule(service: Service, req: AccessRequest, filter: FilterKind): { rule: Rule; differences: string[] } | undefined {
  const names = callerNames(req.from);
  let best: { rule: Rule; differences: string[]; score: number } | undefined;
  for (const rule of service.allow) {
    const differences = ruleDifferences(rule, req, filter);
    const score = (callerMatches(rule, names) ? 0 : 1000) + differences.length;
    if (!best || score < best.score) best = { rule, differences, score };
  }
  return best && { rule: best.rule, differences: best.differences };
}

/** Human-readable lines for a decision (what `spindle authz check` prints). */
export function explainDecision(service: Service, req: AccessRequest, decision: Decision): string[] {
  const lines: string[] = [];
  if (decision.shadow) {
    lines.push(`allowed (service ${service.key} is in shadow mode: nothing is enforced)`);
    lines.push(`shadow decision: ${decision.shadow.allowed ? "allowed" : "denied"}`);
    lines.push(...reasons(service, req, decision.shadow, decision.filter).map((l) => `  ${l}`));
    return lines;
  }
  lines.push(decision.allowed ? "allowed" : "denied");
  lines.push(...reasons(service, req, decision, decision.filter).map((l) => `  ${l}`));
  return lines;
}

function reasons(service: Service, req: AccessRequest, d: RuleDecision, filter: FilterKind): string[] {
  if (d.rule) return [`${d.allowed ? "allowed" : "denied"} by ${describeRule(d.rule)}`];
  const out = [`no allow rule of ${service.key} matches (anyone not allowed is denied)`];
  const near = nearestAllowRule(service, req, filter);
  if (!near) return [...out, "the service allows nobody (its allow list is empty)"];
  out.push(`nearest rule: ${describeRule(near.rule)}`);
  for (const diff of near.differences) out.push(`  differs: ${diff}`);
  return out;
}

export function describeRule(rule: Rule): string {
  const where = `${rule.pos.file}:${rule.pos.line}:${rule.pos.column}`;
  return `${rule.name} (${where})${rule.description ? ` "${rule.description}"` : ""}`;
}
