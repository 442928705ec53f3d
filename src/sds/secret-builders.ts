// Builders of the envoy.extensions.transport_sockets.tls.v3.Secret resources SDS serves
// (docs/design/wire-facts.md, "Envoy SDS"). Pure functions from SVID/bundle material to protobuf
// messages.
import { create } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import { DataSourceSchema, type DataSource } from "../gen/envoy/config/core/v3/base_pb.js";
import { TypedExtensionConfigSchema } from "../gen/envoy/config/core/v3/extension_pb.js";
import { CertificateValidationContextSchema, TlsCertificateSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import { SecretSchema, type Secret } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import {
  SPIFFECertValidatorConfigSchema,
  SPIFFECertValidatorConfig_TrustDomainSchema,
} from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config_pb.js";
import { spindleError } from "../common/errors.js";
import { certsToPem, derToPem } from "../common/pem.js";
import type { TrustBundleMaterial, X509SvidMaterial } from "./contracts.js";
import { SPIFFE_VALIDATOR_NAME } from "./type-urls.js";

/** A tls_certificate Secret: cert chain and key together, so Envoy swaps them atomically. */
export function buildTlsCertificateSecret(name: string, svid: X509SvidMaterial): Secret {
  if (svid.certChainDer.length === 0) throw new TypeError(`SVID ${svid.spiffeId} has an empty certificate chain`);
  return create(SecretSchema, {
    name,
    type: {
      case: "tlsCertificate",
      value: create(TlsCertificateSchema, {
        certificateChain: inlineBytes(certsToPem(svid.certChainDer)),
        privateKey: inlineBytes(derToPem(svid.privateKeyPkcs8Der, "PRIVATE KEY")),
      }),
    },
  });
}

export interface ValidationContextOptions {
  /** true: Envoy's SPIFFE validator with one entry per trust domain; false: trusted_ca fallback. */
  spiffeValidator: boolean;
}

/**
 * A validation_context Secret for `bundles` (own trust domain first). With the SPIFFE validator
 * each trust domain keeps its own roots (never pooled); the trusted_ca fallback can only carry one
 * trust domain, so it gets the first. Trust domains without X.509 authorities are left out; when
 * none is left the name cannot be served (Envoy rejects an empty trust_domains list).
 */
export function buildValidationContextSecret(name: string, bundles: readonly TrustBundleMaterial[], options: ValidationContextOptions): Secret {
  const usable = bundles.filter((b) => b.x509AuthoritiesDer.length > 0);
  if (usable.length === 0) {
    throw spindleError("ERR_XDS_RESOURCE_NOT_FOUND", `secret "${name}": no X.509 authorities in the bundle of ${bundles.map((b) => b.trustDomain).join(", ") || "any trust domain"}`, {
      details: { resource: name },
    });
  }
  const context = options.spiffeValidator
    ? create(CertificateValidationContextSchema, {
        customValidatorConfig: create(TypedExtensionConfigSchema, {
          name: SPIFFE_VALIDATOR_NAME,
          typedConfig: anyPack(
            SPIFFECertValidatorConfigSchema,
            create(SPIFFECertValidatorConfigSchema, {
              trustDomains: usable.map((b) =>
                create(SPIFFECertValidatorConfig_TrustDomainSchema, {
                  name: b.trustDomain,
                  trustBundle: inlineBytes(certsToPem(b.x509AuthoritiesDer)),
                }),
              ),
            }),
          ),
        }),
      })
    : create(CertificateValidationContextSchema, { trustedCa: inlineBytes(certsToPem(usable[0]!.x509AuthoritiesDer)) });
  return create(SecretSchema, { name, type: { case: "validationContext", value: context } });
}

/** Packs a Secret into an Any with its type URL (SECRET_TYPE_URL). */
export function packSecret(secret: Secret): Any {
  return anyPack(SecretSchema, secret);
}

function inlineBytes(pem: string): DataSource {
  return create(DataSourceSchema, { specifier: { case: "inlineBytes", value: Buffer.from(pem, "utf8") } });
}
