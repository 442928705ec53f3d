// Decides a request against the policy model itself (not against compiled RBAC), with the same
// semantics the compiled filters have in Envoy: the DENY filter first (any matching deny rule
// denies), then the ALLOW filter (some allow rule must match), and the lexicographically first
// matching policy name is the one reported, as Envoy does. `spindle authz check` uses it, and the
// oracle test holds it equal to an independent RBAC engine running the compiled output.
import type { FilterKind } from "./envoy-json.js";
import { callerMatches, hasHttpConditions, type Mode, type Rule, type Service } from "./model.js";

/** The peer certificate's names that matter for matching. */
export interface Peer {
  /** URI SANs (an X.509-SVID has exactly one: the SPIFFE ID). */
  readonly uris: readonly string[];
  /**
   * DNS SANs and the subject CN never match: every compiled matcher is anchored on
   * `spiffe://<td>/`, which no DNS name (nor Envoy's RFC 4514 subject string) can start with.
   */
  readonly dnsNames?: readonly string[];
  readonly commonName?: string;
}

export interface AccessRequest {
  /** The caller's SPIFFE ID, or its certificate's names. */
  readonly from: string | Peer;
  /** Unset HTTP attributes match no condition on them (like a header that is absent). */
  readonly method?: string;
  /** The request path; a query (`?...`) is ignored, as `url_path` ignores it. */
  readonly path?: string;
  /** Lower-case header names. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly port?: number;
}

export interface RuleDecision {
  readonly allowed: boolean;
  /** The deny rule that denied, the allow rule that allowed, or none (nothing allowed it). */
  readonly rule?: Rule;
}

export interface Decision extends RuleDecision {
  readonly service: string;
  readonly mode: Mode;
  readonly filter: FilterKind;
  /** Shadow mode only: what the rules would have decided (everything is allowed meanwhile). */
  readonly shadow?: RuleDecision;
}

export function callerNames(from: string | Peer): readonly string[] {
  return typeof from === "string" ? [from] : from.uris;
}

export function requestPath(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const q = path.indexOf("?");
  return q === -1 ? path : path.slice(0, q);
}

export function evaluate(service: Service, request: AccessRequest, filter: FilterKind = "http"): Decision {
  const names = callerNames(request.from);
  const path = requestPath(request.path);
  const decision = decideRules(service, request, names, path, filter);
  const base = { service: service.key, mode: service.mode, filter };
  if (service.mode === "shadow") return { ...base, allowed: true, shadow: decision };
  return { ...base, ...decision };
}

function decideRules(service: Service, req: AccessRequest, names: readonly string[], path: string | undefined, filter: FilterKind): RuleDecision {
  const deny = firstMatch(service.deny, req, names, path, filter);
  if (deny) return { allowed: false, rule: deny };
  const allow = firstMatch(service.allow, req, names, path, filter);
  return allow ? { allowed: true, rule: allow } : { allowed: false };
}

/** The matching rule with the lexicographically smallest name (what Envoy reports). */
function firstMatch(rules: readonly Rule[], req: AccessRequest, names: readonly string[], path: string | undefined, filter: FilterKind): Rule | undefined {
  let best: Rule | undefined;
  for (const rule of rules) {
    if (best !== undefined && rule.name > best.name) continue;
    if (ruleMatches(rule, req, names, path, filter)) best = rule;
  }
  return best;
}

export function ruleMatches(rule: Rule, req: AccessRequest, names: readonly string[], path: string | undefined, filter: FilterKind): boolean {
  if (!callerMatches(rule, names)) return false;
  if (rule.ports.length > 0 && (req.port === undefined || !rule.ports.includes(req.port))) return false;
  if (filter === "network") {
    // Section 7: an ALLOW rule with HTTP conditions is left out (narrows); a DENY rule loses them (widens).
    return rule.kind === "deny" || !hasHttpConditions(rule);
  }
  if (rule.methods.length > 0 && (req.method === undefined || !rule.methods.includes(req.method))) return false;
  if (rule.paths.length > 0) {
    if (path === undefined) return false;
    if (!rule.paths.some((p) => (p.kind === "exact" ? path === p.value : path.startsWith(p.value)))) return false;
  }
  for (const h of rule.headers) {
    const v = req.headers?.[h.name];
    if (v === undefined) return false;
    if (h.kind === "exact" && v !== h.value) return false;
    if (h.kind === "prefix" && !v.startsWith(h.value)) return false;
  }
  return true;
}
