// Protobuf forms of compiled filters for delivery over ECDS
// (envoy.config.core.v3.TypedExtensionConfig): a TypedExtensionConfig named like the filter,
// holding the RBAC message in an Any. Decoding goes through the shared Envoy schema, so it fails
// loudly if the compiler ever emits a wrong field.
import type { JsonValue, Registry } from "@bufbuild/protobuf";
import { decodeEnvoyConfig } from "../envoy/schema.js";
import { TypedExtensionConfigSchema, type TypedExtensionConfig } from "../gen/envoy/config/core/v3/extension_pb.js";
import type { CompiledFilter, FilterKind } from "./envoy-json.js";
import { ALLOW_FILTER_NAME, HTTP_RBAC_TYPE_URL, NETWORK_RBAC_TYPE_URL } from "./envoy-json.js";

export function toTypedExtensionConfig(filter: CompiledFilter, registry?: Registry): TypedExtensionConfig {
  // The filter types are JSON by construction (strings, numbers, booleans, objects, arrays).
  const json = { name: filter.name, typed_config: filter.typed_config } as unknown as JsonValue;
  return decodeEnvoyConfig(TypedExtensionConfigSchema, json, { source: filter.name, ...(registry ? { registry } : {}) });
}

/**
 * The fail-closed default for an ECDS subscription (`config_discovery.default_config`): an ALLOW
 * filter with `rules` present and no policies, which denies every request until real rules arrive.
 */
export function denyAllFilter(kind: FilterKind): CompiledFilter {
  const rules = { action: "ALLOW" as const, policies: {} };
  if (kind === "http") {
    return {
      name: ALLOW_FILTER_NAME,
      typed_config: { "@type": HTTP_RBAC_TYPE_URL, rules, rules_stat_prefix: "spindle_authz.default.allow.", track_per_rule_stats: true },
    };
  }
  return { name: ALLOW_FILTER_NAME, typed_config: { "@type": NETWORK_RBAC_TYPE_URL, rules, stat_prefix: "spindle_authz.default.allow." } };
}
