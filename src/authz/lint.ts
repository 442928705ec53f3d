// `spindle authz lint`: warnings about a valid policy that probably does not say what its author
// meant. Each warning points at the rule or caller it is about.
import { patternCovers } from "./caller-pattern.js";
import type { PathMatch, Policy, Rule, Service } from "./model.js";
import { problemAt, sortProblems, type Problem } from "./problems.js";

export function lintPolicy(policy: Policy): Problem[] {
  const out: Problem[] = [];
  for (const service of policy.services) {
    for (const rule of [...service.deny, ...service.allow]) coveredCallers(rule, out);
    redundantRules(service.deny, out);
    redundantRules(service.allow, out);
    deadAllowRules(service, out);
  }
  return sortProblems(out);
}

/** A caller already matched by a broader pattern of the same rule. */
function coveredCallers(rule: Rule, out: Problem[]): void {
  for (const c of rule.callers) {
    const wider = rule.callers.find((o) => o !== c && o.value !== c.value && patternCovers(o, c));
    if (wider) out.push(problemAt(c.pos, `${rule.name}: caller "${c.text}" is already covered by "${wider.text}"`, "warning"));
  }
}

/** A rule that another rule of the same list makes pointless (it matches a superset). */
function redundantRules(rules: readonly Rule[], out: Problem[]): void {
  for (const a of rules) {
    const b = rules.find((o) => o !== a && subsumes(o, a) && (!subsumes(a, o) || o.index < a.index));
    if (b) out.push(problemAt(a.pos, `${a.name} is redundant: ${b.name} already matches every request it matches`, "warning"));
  }
}

/** An allow rule whose callers are all denied unconditionally. */
function deadAllowRules(service: Service, out: Problem[]): void {
  const unconditional = service.deny.filter((d) => d.methods.length + d.paths.length + d.headers.length + d.ports.length === 0);
  for (const a of service.allow) {
    const d = unconditional.find((deny) => a.callers.every((c) => deny.callers.some((p) => patternCovers(p, c))));
    if (d) out.push(problemAt(a.pos, `${a.name} can never allow anything: ${d.name} denies all of its callers`, "warning"));
  }
}

/** True when every request `inner` matches is also matched by `outer`. */
export function subsumes(outer: Rule, inner: Rule): boolean {
  if (!inner.callers.every((c) => outer.callers.some((p) => patternCovers(p, c)))) return false;
  if (!listCovers(outer.methods, inner.methods)) return false;
  if (!listCovers(outer.ports, inner.ports)) return false;
  if (outer.paths.length > 0 && (inner.paths.length === 0 || !inner.paths.every((p) => outer.paths.some((q) => pathCovers(q, p))))) return false;
  return outer.headers.every((h) => inner.headers.some((i) => i.name === h.name && i.kind === h.kind && i.value === h.value));
}

function listCovers<T>(outer: readonly T[], inner: readonly T[]): boolean {
  if (outer.length === 0) return true;
  return inner.length > 0 && inner.every((x) => outer.includes(x));
}

function pathCovers(outer: PathMatch, inner: PathMatch): boolean {
  if (outer.kind === "exact") return inner.kind === "exact" && inner.value === outer.value;
  return inner.value.startsWith(outer.value);
}
