// Facts SDS reads from the `node` an Envoy sends on the first request of a stream.
import type { Node } from "../gen/envoy/config/core/v3/base_pb.js";

/** Node metadata key with which one Envoy opts out of the SPIFFE validator (docs/sds.md). */
export const DISABLE_SPIFFE_VALIDATION_METADATA = "disable_spiffe_cert_validation";

/** Envoy added envoy.tls.cert_validator.spiffe in 1.18. */
const SPIFFE_VALIDATOR_SINCE = { major: 1, minor: 18 };

/**
 * Whether this Envoy should get the SPIFFE validator: not when the metadata opts out (boolean
 * true or the string "true"), not when it reports a build version older than 1.18. An Envoy that
 * reports no version is assumed current.
 */
export function supportsSpiffeValidator(node: Node | undefined): boolean {
  if (node === undefined) return true;
  const optOut = node.metadata?.[DISABLE_SPIFFE_VALIDATION_METADATA];
  if (optOut === true || optOut === "true") return false;
  if (node.userAgentVersionType.case === "userAgentBuildVersion") {
    const v = node.userAgentVersionType.value.version;
    if (v !== undefined && (v.majorNumber !== 0 || v.minorNumber !== 0)) {
      if (v.majorNumber !== SPIFFE_VALIDATOR_SINCE.major) return v.majorNumber > SPIFFE_VALIDATOR_SINCE.major;
      return v.minorNumber >= SPIFFE_VALIDATOR_SINCE.minor;
    }
  }
  return true;
}

/** The node id for logs, metrics and the Envoy table; streams without a node are "unknown". */
export function nodeIdOf(node: Node | undefined): string {
  return node?.id ? node.id : "unknown";
}
