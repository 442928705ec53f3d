// SubjectPublicKeyInfo (RFC 5280 4.1.2.7) for a workload's public key. node:crypto's DER SPKI
// export costs ~150 us per call here (the whole OpenSSL encoder pipeline), more than the
// signature itself, while its JWK export takes a few microseconds; so the minting path builds the
// SPKI from the JWK (RFC 5480 section 2 for EC, RFC 3279 2.3.1 for RSA).
import type { KeyObject } from "node:crypto";
import { bitString, nullValue, oid, sequence, unsignedInteger } from "./der.js";

export interface EncodedSpki {
  der: Buffer;
  /** The subjectPublicKey BIT STRING value: what SKI method 1 hashes. */
  publicKeyBits: Buffer;
}

const EC_ALGORITHMS: Record<string, Buffer> = {
  "P-256": sequence(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7")),
  "P-384": sequence(oid("1.2.840.10045.2.1"), oid("1.3.132.0.34")),
};
const RSA_ALGORITHM = sequence(oid("1.2.840.113549.1.1.1"), nullValue());

const b64u = (s: unknown, what: string): Buffer => {
  if (typeof s !== "string") throw new TypeError(`public key JWK lacks ${what}`);
  return Buffer.from(s, "base64url");
};

export function encodeSpki(publicKey: KeyObject): EncodedSpki {
  if (publicKey.type === "secret") throw new TypeError("expected an asymmetric public key");
  const jwk = publicKey.export({ format: "jwk" });
  if (jwk.kty === "EC") {
    const alg = EC_ALGORITHMS[String(jwk.crv)];
    if (alg === undefined) throw new TypeError(`unsupported EC curve ${String(jwk.crv)}`);
    // Uncompressed point 0x04 || X || Y (SEC 1 2.3.3), coordinates at full field width.
    const bits = Buffer.concat([Buffer.from([4]), b64u(jwk.x, "x"), b64u(jwk.y, "y")]);
    return { der: sequence(alg, bitString(bits)), publicKeyBits: bits };
  }
  if (jwk.kty === "RSA") {
    const bits = sequence(unsignedInteger(b64u(jwk.n, "n")), unsignedInteger(b64u(jwk.e, "e")));
    return { der: sequence(RSA_ALGORITHM, bitString(bits)), publicKeyBits: bits };
  }
  throw new TypeError(`unsupported public key type ${String(publicKey.asymmetricKeyType)}`);
}
