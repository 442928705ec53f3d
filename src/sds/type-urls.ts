// Every type URL and extension name the SDS/ECDS services put on the wire, in one place.
// Values are the fully-qualified protobuf message names from Envoy's API (Envoy's api/envoy/).

const PREFIX = "type.googleapis.com/";

/** Resources of SecretDiscoveryService. */
export const SECRET_TYPE_URL = `${PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`;

/** Resources of ExtensionConfigDiscoveryService. */
export const TYPED_EXTENSION_CONFIG_TYPE_URL = `${PREFIX}envoy.config.core.v3.TypedExtensionConfig`;

/** typed_config of Envoy's SPIFFE certificate validator. */
export const SPIFFE_VALIDATOR_CONFIG_TYPE_URL = `${PREFIX}envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig`;

/** CertificateValidationContext.custom_validator_config.name of the SPIFFE validator. */
export const SPIFFE_VALIDATOR_NAME = "envoy.tls.cert_validator.spiffe";
