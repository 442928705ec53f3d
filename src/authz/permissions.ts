// A rule's request conditions as one envoy.config.rbac.v3.Permission: `:method` header matchers,
// `url_path` (not the `:path` header, which keeps the query), header matchers and
// `destination_port`, ANDed across kinds and ORed within one kind (envoy.config.rbac.v3.Permission
// `and_rules` / `or_rules`).
import type { FilterKind, HeaderMatcherJson, PermissionJson, StringMatcherJson } from "./envoy-json.js";
import { hasHttpConditions, type HeaderMatch, type PathMatch, type Rule } from "./model.js";

export type PermissionOutcome =
  /** The rule compiles as written. */
  | { kind: "kept"; permission: PermissionJson }
  /** Network filter, DENY rule: HTTP conditions removed, so it denies more (widens). */
  | { kind: "widened"; permission: PermissionJson; dropped: string[] }
  /** Network filter, ALLOW rule: the whole rule is left out, so fewer are allowed (narrows). */
  | { kind: "omitted"; dropped: string[] };

export function rulePermission(rule: Rule, filter: FilterKind): PermissionOutcome {
  if (filter === "http" || !hasHttpConditions(rule)) return { kind: "kept", permission: conditions(rule, true) };
  const dropped = droppedConditions(rule);
  if (rule.kind === "allow") return { kind: "omitted", dropped };
  return { kind: "widened", permission: conditions(rule, false), dropped };
}

/** Names of the HTTP-only conditions a rule has, for warnings and explanations. */
export function droppedConditions(rule: Rule): string[] {
  const out: string[] = [];
  if (rule.methods.length > 0) out.push("methods");
  if (rule.paths.length > 0) out.push("paths");
  if (rule.headers.length > 0) out.push("headers");
  return out;
}

function conditions(rule: Rule, http: boolean): PermissionJson {
  const parts: PermissionJson[] = [];
  if (http) {
    if (rule.methods.length > 0) parts.push(anyOf(rule.methods.map(methodPermission)));
    if (rule.paths.length > 0) parts.push(anyOf(rule.paths.map(pathPermission)));
    for (const h of rule.headers) parts.push({ header: headerMatcher(h) });
  }
  if (rule.ports.length > 0) parts.push(anyOf(rule.ports.map((p) => ({ destination_port: p }))));
  if (parts.length === 0) return { any: true };
  if (parts.length === 1) return parts[0]!;
  return { and_rules: { rules: parts } };
}

function anyOf(rules: PermissionJson[]): PermissionJson {
  return rules.length === 1 ? rules[0]! : { or_rules: { rules } };
}

function methodPermission(method: string): PermissionJson {
  return { header: { name: ":method", string_match: { exact: method } } };
}

function pathPermission(p: PathMatch): PermissionJson {
  const path: StringMatcherJson = p.kind === "exact" ? { exact: p.value } : { prefix: p.value };
  return { url_path: { path } };
}

function headerMatcher(h: HeaderMatch): HeaderMatcherJson {
  if (h.kind === "present") return { name: h.name, present_match: true };
  return { name: h.name, string_match: h.kind === "exact" ? { exact: h.value } : { prefix: h.value } };
}
