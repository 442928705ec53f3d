import { test } from "node:test";
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { SecretSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { SPIFFECertValidatorConfigSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config_pb.js";
import { SpindleError } from "../common/errors.js";
import { pemToDers } from "../common/pem.js";
import { createTestCa } from "../../test/support/spiffe/test-ca.js";
import { buildValidationContextSecret, packSecret } from "./secret-builders.js";
import { SECRET_TYPE_URL, SPIFFE_VALIDATOR_CONFIG_TYPE_URL, SPIFFE_VALIDATOR_NAME } from "./type-urls.js";

const a = createTestCa({ trustDomain: "a.org" });
const b = createTestCa({ trustDomain: "b.org" });

test("validation context: one SPIFFE validator entry per trust domain, never pooled, packed with the right type URLs", () => {
  const any = packSecret(buildValidationContextSecret("ALL", [
    { trustDomain: "a.org", x509AuthoritiesDer: [a.der] },
    { trustDomain: "b.org", x509AuthoritiesDer: [b.der] },
    { trustDomain: "empty.org", x509AuthoritiesDer: [] },
  ], { spiffeValidator: true }));
  assert.equal(any.typeUrl, SECRET_TYPE_URL);
  const secret = fromBinary(SecretSchema, any.value);
  assert.ok(secret.type.case === "validationContext");
  const custom = secret.type.value.customValidatorConfig!;
  assert.equal(custom.name, SPIFFE_VALIDATOR_NAME);
  assert.equal(custom.typedConfig!.typeUrl, SPIFFE_VALIDATOR_CONFIG_TYPE_URL);
  const config = fromBinary(SPIFFECertValidatorConfigSchema, custom.typedConfig!.value);
  assert.deepEqual(config.trustDomains.map((t) => t.name), ["a.org", "b.org"], "domains without authorities are left out");
  const pem = (i: number) => Buffer.from(config.trustDomains[i]!.trustBundle!.specifier.value as Uint8Array).toString();
  assert.deepEqual(pemToDers(pem(0), "CERTIFICATE"), [a.der]);
  assert.deepEqual(pemToDers(pem(1), "CERTIFICATE"), [b.der]);
});

test("trusted_ca fallback carries only the first trust domain", () => {
  const secret = buildValidationContextSecret("ALL", [{ trustDomain: "a.org", x509AuthoritiesDer: [a.der] }, { trustDomain: "b.org", x509AuthoritiesDer: [b.der] }], { spiffeValidator: false });
  assert.ok(secret.type.case === "validationContext");
  assert.equal(secret.type.value.customValidatorConfig, undefined);
  assert.deepEqual(pemToDers(Buffer.from(secret.type.value.trustedCa!.specifier.value as Uint8Array).toString(), "CERTIFICATE"), [a.der]);
});

test("a validation context without any authority is refused, naming the resource", () => {
  assert.throws(
    () => buildValidationContextSecret("ROOTCA", [{ trustDomain: "a.org", x509AuthoritiesDer: [] }], { spiffeValidator: true }),
    (err: unknown) => SpindleError.is(err, "ERR_XDS_RESOURCE_NOT_FOUND") && err.message.includes('"ROOTCA"'),
  );
});
