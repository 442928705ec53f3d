// Public surface of the SDS/ECDS module; the agent wires it to its socket server, SVID cache and
// workload attestors through the interfaces in contracts.ts.
export type {
  Caller,
  CallerAttestor,
  CallerBundles,
  ExtensionConfigSource,
  SecretChange,
  SecretSource,
  TrustBundleMaterial,
  X509SvidMaterial,
} from "./contracts.js";
export { createSdsService, type SdsServiceOptions, type XdsService } from "./sds-service.js";
export { createEcdsService, type EcdsServiceOptions } from "./ecds-service.js";
export { createXdsMetrics, type EnvoyResourceStatus, type EnvoyStatus, type XdsMetrics, type XdsMetricsOptions } from "./xds-metrics.js";
export { DEFAULT_SECRET_ALIASES, type SecretAliases } from "./secret-resolver.js";
export { DISABLE_SPIFFE_VALIDATION_METADATA, supportsSpiffeValidator } from "./envoy-node.js";
export { buildTlsCertificateSecret, buildValidationContextSecret, packSecret } from "./secret-builders.js";
export * from "./type-urls.js";
