// The subset of Envoy's RBAC API the compiler emits, in proto JSON form with proto field names
// (snake_case, as Envoy's YAML uses). Field names follow envoy.config.rbac.v3 and
// envoy.type.matcher.v3; tests decode every emitted document with the generated Envoy types.

export const HTTP_RBAC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
export const NETWORK_RBAC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

/** Filter names; also the ECDS resource names (TypedExtensionConfig.name). DENY runs first. */
export const DENY_FILTER_NAME = "spindle.authz.deny";
export const ALLOW_FILTER_NAME = "spindle.authz.allow";

export type FilterKind = "http" | "network";

/** envoy.type.matcher.v3.StringMatcher */
export type StringMatcherJson = { exact: string } | { prefix: string } | { safe_regex: { regex: string } };

/** envoy.config.rbac.v3.Principal (only what we emit). */
export type PrincipalJson = { authenticated: { principal_name: StringMatcherJson } };

/** envoy.config.route.v3.HeaderMatcher (only what we emit). */
export type HeaderMatcherJson = { name: string; string_match: StringMatcherJson } | { name: string; present_match: true };

/** envoy.config.rbac.v3.Permission (only what we emit). */
export type PermissionJson =
  | { any: true }
  | { and_rules: { rules: PermissionJson[] } }
  | { or_rules: { rules: PermissionJson[] } }
  | { header: HeaderMatcherJson }
  | { url_path: { path: StringMatcherJson } }
  | { destination_port: number };

/** envoy.config.rbac.v3.Policy */
export interface PolicyJson {
  permissions: PermissionJson[];
  principals: PrincipalJson[];
}

/** envoy.config.rbac.v3.RBAC. `action` is always written, even ALLOW (the proto default). */
export interface RbacRulesJson {
  action: "ALLOW" | "DENY";
  policies: Record<string, PolicyJson>;
}

/** envoy.extensions.filters.http.rbac.v3.RBAC */
export interface HttpRbacJson {
  "@type": typeof HTTP_RBAC_TYPE_URL;
  rules: RbacRulesJson;
  rules_stat_prefix: string;
  shadow_rules?: RbacRulesJson;
  shadow_rules_stat_prefix?: string;
  track_per_rule_stats: true;
}

/** envoy.extensions.filters.network.rbac.v3.RBAC (it has no track_per_rule_stats field). */
export interface NetworkRbacJson {
  "@type": typeof NETWORK_RBAC_TYPE_URL;
  rules: RbacRulesJson;
  stat_prefix: string;
  shadow_rules?: RbacRulesJson;
  shadow_rules_stat_prefix?: string;
}

/** One entry of `http_filters` (HttpFilter) or of a filter chain's `filters` (Filter). */
export interface CompiledFilter {
  name: typeof DENY_FILTER_NAME | typeof ALLOW_FILTER_NAME;
  typed_config: HttpRbacJson | NetworkRbacJson;
}
