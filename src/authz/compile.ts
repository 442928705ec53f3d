// Compiles one service's rules into two RBAC filters (envoy.config.rbac.v3.RBAC): a DENY filter,
// then an ALLOW filter; Envoy ANDs them in chain order. Both are always emitted with `rules`
// present, so an empty allow-list is an explicit deny-all and shadow mode is an explicit
// allow-all (DENY with no policies) plus `shadow_rules`. Output is deterministic.
import { SpindleError } from "../common/errors.js";
import {
  ALLOW_FILTER_NAME,
  DENY_FILTER_NAME,
  HTTP_RBAC_TYPE_URL,
  NETWORK_RBAC_TYPE_URL,
  type CompiledFilter,
  type FilterKind,
  type PolicyJson,
  type RbacRulesJson,
} from "./envoy-json.js";
import { findService, type Policy, type Rule, type Service } from "./model.js";
import { rulePermission } from "./permissions.js";
import { callerPrincipals, DEFAULT_MAX_REGEX_PROGRAM_SIZE } from "./principals.js";
import { problemAt, type Problem } from "./problems.js";

export interface CompileOptions {
  filter: FilterKind;
  /** The service to compile; may be left out when the policy has exactly one. */
  service?: string;
  /** RE2 program-size budget per regex (Envoy's `re2.max_program_size.error_level`). */
  maxRegexProgramSize?: number;
}

export interface CompileResult {
  readonly service: string;
  /** `[deny, allow]`, in the order they must appear in the filter chain. */
  readonly filters: CompiledFilter[];
  /** What the network filter had to drop or widen, with the rule's position. */
  readonly warnings: Problem[];
}

/** Compiles the service named in `options` (or the only one). */
export function compilePolicy(policy: Policy, options: CompileOptions): CompileResult {
  return compileService(selectService(policy, options.service), options);
}

/** Compiles every service, in file order. */
export function compileAll(policy: Policy, options: Omit<CompileOptions, "service">): CompileResult[] {
  return policy.services.map((s) => compileService(s, options));
}

export function selectService(policy: Policy, key: string | undefined): Service {
  if (key === undefined) {
    const only = policy.services.length === 1 ? policy.services[0] : undefined;
    if (only) return only;
    throw new SpindleError("ERR_INVALID_ARGUMENT", `${policy.file} has ${policy.services.length} services; name one (${serviceList(policy)})`);
  }
  const service = findService(policy, key);
  if (!service) {
    throw new SpindleError("ERR_AUTHZ_SERVICE_UNKNOWN", `service "${key}" is not in ${policy.file} (it has: ${serviceList(policy)})`, {
      details: { service: key },
    });
  }
  return service;
}

export function compileService(service: Service, options: Omit<CompileOptions, "service">): CompileResult {
  const warnings: Problem[] = [];
  const budget = options.maxRegexProgramSize ?? DEFAULT_MAX_REGEX_PROGRAM_SIZE;
  const deny = rbacRules("DENY", service.deny, options.filter, budget, warnings);
  const allow = rbacRules("ALLOW", service.allow, options.filter, budget, warnings);
  const slug = statSlug(service.key);
  return {
    service: service.key,
    filters: [
      filter(DENY_FILTER_NAME, deny, service, options.filter, `spindle_authz.${slug}.deny.`),
      filter(ALLOW_FILTER_NAME, allow, service, options.filter, `spindle_authz.${slug}.allow.`),
    ],
    warnings,
  };
}

function rbacRules(action: RbacRulesJson["action"], rules: readonly Rule[], kind: FilterKind, budget: number, warnings: Problem[]): RbacRulesJson {
  const policies: Record<string, PolicyJson> = {};
  for (const rule of rules) {
    const outcome = rulePermission(rule, kind);
    if (outcome.kind !== "kept") {
      const what = outcome.dropped.join(", ");
      warnings.push(
        problemAt(
          rule.pos,
          outcome.kind === "omitted"
            ? `${rule.name}: left out of the network filter (it has HTTP-only ${what}); those callers are denied on this listener`
            : `${rule.name}: HTTP-only ${what} dropped in the network filter; the rule denies these callers for every request`,
          "warning",
        ),
      );
    }
    if (outcome.kind === "omitted") continue;
    policies[rule.name] = { permissions: [outcome.permission], principals: callerPrincipals(rule.callers, budget) };
  }
  return { action, policies };
}

function filter(name: CompiledFilter["name"], rules: RbacRulesJson, service: Service, kind: FilterKind, statPrefix: string): CompiledFilter {
  // Shadow mode: enforce nothing, explicitly (DENY with no policies allows every request), and
  // evaluate the real rules as shadow_rules so their would-be decisions show in stats and logs.
  const enforced: RbacRulesJson = service.mode === "shadow" ? { action: "DENY", policies: {} } : rules;
  const shadow = service.mode === "shadow" ? { shadow_rules: rules, shadow_rules_stat_prefix: statPrefix } : {};
  if (kind === "http") {
    return {
      name,
      typed_config: { "@type": HTTP_RBAC_TYPE_URL, rules: enforced, rules_stat_prefix: statPrefix, ...shadow, track_per_rule_stats: true },
    };
  }
  return { name, typed_config: { "@type": NETWORK_RBAC_TYPE_URL, rules: enforced, stat_prefix: statPrefix, ...shadow } };
}

/** A stats-safe rendering of a service key: `spiffe://example.org/ns/a` -> `example_org_ns_a`. */
export function statSlug(key: string): string {
  return key.replace(/^spiffe:\/\//, "").replace(/[^A-Za-z0-9_]+/g, "_");
}

function serviceList(policy: Policy): string {
  return policy.services.map((s) => s.key).join(", ") || "none";
}
