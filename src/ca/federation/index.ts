export {
  createFederationManager,
  DEFAULT_FEDERATION_TIMING,
  DEFAULT_FETCH_LIMITS,
  type FederationManager,
  type FederationManagerOptions,
  type FederationMetrics,
  type FederationTiming,
  type RefreshStatus,
  type RelationshipView,
} from "./manager.js";
export {
  validateRelationship,
  relationshipProblems,
  parseBootstrapBundle,
  bundleEndpointUrlProblem,
  BUNDLE_ENDPOINT_PROFILES,
  type FederationRelationship,
  type RelationshipInput,
  type ValidatedRelationship,
  type BootstrapFormat,
} from "./relationship.js";
export { REFUSAL_REASONS, type RefusalReason } from "./refusal.js";
export { fetchBundleDocument, type FetchLimits, type FetchTarget } from "./fetch-bundle.js";
export { checkDocument, refreshOnce } from "./refresh.js";
