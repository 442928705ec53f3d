// Workload keys (docs/design/wire-facts.md, "X.509-SVIDs"): ECDSA P-256 by default, P-384 or
// RSA-2048 on request. They are generated in memory for each entry, never written anywhere and
// never logged; the PKCS#8 DER is kept only because the Workload API and SDS hand it to the
// workload.
import { generateKeyPair as generateKeyPairCb, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

const generateKeyPairAsync = promisify(generateKeyPairCb);

export type WorkloadKeyType = "ec-p256" | "ec-p384" | "rsa-2048";
export const WORKLOAD_KEY_TYPES: readonly WorkloadKeyType[] = ["ec-p256", "ec-p384", "rsa-2048"];
export const DEFAULT_WORKLOAD_KEY_TYPE: WorkloadKeyType = "ec-p256";

export interface WorkloadKey {
  readonly type: WorkloadKeyType;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Unencrypted PKCS#8 DER, for the Workload API's x509_svid_key and SDS. */
  readonly pkcs8Der: Uint8Array;
  /** SubjectPublicKeyInfo DER, to check that a returned certificate carries this key. */
  readonly spkiDer: Buffer;
}

export function isWorkloadKeyType(value: unknown): value is WorkloadKeyType {
  return typeof value === "string" && (WORKLOAD_KEY_TYPES as readonly string[]).includes(value);
}

/** Generates a key off the main thread (RSA takes tens of milliseconds). */
export async function generateWorkloadKey(type: WorkloadKeyType): Promise<WorkloadKey> {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  switch (type) {
    case "ec-p256":
      pair = await generateKeyPairAsync("ec", { namedCurve: "P-256" });
      break;
    case "ec-p384":
      pair = await generateKeyPairAsync("ec", { namedCurve: "P-384" });
      break;
    case "rsa-2048":
      pair = await generateKeyPairAsync("rsa", { modulusLength: 2048, publicExponent: 0x10001 });
      break;
    default:
      throw new TypeError(`unknown workload key type ${String(type)}; use one of ${WORKLOAD_KEY_TYPES.join(", ")}`);
  }
  return Object.freeze({
    type,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    pkcs8Der: pair.privateKey.export({ type: "pkcs8", format: "der" }),
    spkiDer: pair.publicKey.export({ type: "spki", format: "der" }),
  });
}
