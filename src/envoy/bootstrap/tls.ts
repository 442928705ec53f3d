// SDS-backed TLS contexts (docs/envoy.md): the certificate and the validation context
// both come from the agent socket; peers are pinned by URI SAN on top of the bundle check.
import type { JsonObject } from "@bufbuild/protobuf";
import { AGENT_CLUSTER, EXTENSION, TYPE_URL } from "./constants.js";

/** An ADS-less gRPC config source on the agent cluster (used by SDS and ECDS). */
export function agentConfigSource(): JsonObject {
  return {
    resource_api_version: "V3",
    api_config_source: {
      api_type: "GRPC",
      transport_api_version: "V3",
      grpc_services: [{ envoy_grpc: { cluster_name: AGENT_CLUSTER } }],
    },
  };
}

/** SdsSecretConfig: Envoy opens one SDS stream per distinct name. */
export function sdsSecret(name: string): JsonObject {
  return { name, sds_config: agentConfigSource() };
}

/**
 * CommonTlsContext presenting `certificateName` and validating the peer with the
 * `validationContextName` bundle; when `peerIds` is non-empty the peer's URI SAN must equal one.
 */
export function commonTlsContext(certificateName: string, validationContextName: string, peerIds: readonly string[]): JsonObject {
  const defaultValidation: JsonObject = peerIds.length === 0 ? {} : {
    match_typed_subject_alt_names: peerIds.map((id) => ({ san_type: "URI", matcher: { exact: id } })),
  };
  return {
    tls_certificate_sds_secret_configs: [sdsSecret(certificateName)],
    combined_validation_context: {
      default_validation_context: defaultValidation,
      validation_context_sds_secret_config: sdsSecret(validationContextName),
    },
  };
}

/** Server side of mutual TLS: a client certificate is required. */
export function downstreamMtls(certificateName: string, validationContextName: string, peerIds: readonly string[]): JsonObject {
  return {
    name: EXTENSION.tls,
    typed_config: {
      "@type": TYPE_URL.downstreamTlsContext,
      require_client_certificate: true,
      common_tls_context: commonTlsContext(certificateName, validationContextName, peerIds),
    },
  };
}

/** Server-only TLS for an edge listener: the SVID is presented, no client certificate asked. */
export function downstreamTls(certificateName: string): JsonObject {
  return {
    name: EXTENSION.tls,
    typed_config: {
      "@type": TYPE_URL.downstreamTlsContext,
      common_tls_context: { tls_certificate_sds_secret_configs: [sdsSecret(certificateName)] },
    },
  };
}

/** Client side of mutual TLS towards an upstream that must present one of `peerIds`. */
export function upstreamMtls(certificateName: string, validationContextName: string, peerIds: readonly string[]): JsonObject {
  return {
    name: EXTENSION.tls,
    typed_config: {
      "@type": TYPE_URL.upstreamTlsContext,
      common_tls_context: commonTlsContext(certificateName, validationContextName, peerIds),
    },
  };
}
