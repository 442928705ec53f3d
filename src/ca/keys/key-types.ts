// Key algorithms Spindle uses for CA, JWT and workload keys (docs/design/wire-facts.md,
// "X.509-SVIDs"): ECDSA P-256 (default), P-384, RSA-2048. Everything else is refused at the
// boundary.
import { createPublicKey, generateKeyPair as generateKeyPairCb, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { spindleError } from "../../common/index.js";
import type { KeyPair, KeyType } from "../contracts.js";

const generateKeyPairAsync = promisify(generateKeyPairCb);

export const KEY_TYPES: readonly KeyType[] = ["ec-p256", "ec-p384", "rsa-2048"];
export const DEFAULT_KEY_TYPE: KeyType = "ec-p256";

export function isKeyType(v: unknown): v is KeyType {
  return typeof v === "string" && (KEY_TYPES as readonly string[]).includes(v);
}

/** Generates a key pair off the main thread (RSA generation takes tens of milliseconds). */
export async function generateKeyPair(type: KeyType): Promise<KeyPair> {
  switch (type) {
    case "ec-p256":
      return generateKeyPairAsync("ec", { namedCurve: "P-256" });
    case "ec-p384":
      return generateKeyPairAsync("ec", { namedCurve: "P-384" });
    case "rsa-2048":
      return generateKeyPairAsync("rsa", { modulusLength: 2048, publicExponent: 0x10001 });
    default:
      throw new TypeError(`unknown key type ${String(type)}`);
  }
}

/**
 * The Spindle key type of a CA/JWT key, or undefined for anything else (other curves, Ed25519,
 * RSA other than 2048 bits). CSR checking accepts larger RSA workload keys on its own.
 */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec") {
    if (d?.namedCurve === "prime256v1") return "ec-p256";
    if (d?.namedCurve === "secp384r1") return "ec-p384";
    return undefined;
  }
  if (key.asymmetricKeyType === "rsa" && d?.modulusLength === 2048) return "rsa-2048";
  return undefined;
}

/** Workload keys (CSRs, mint requests): EC P-256/P-384, or RSA of at least 2048 bits (section 2). */
export function isAcceptableWorkloadKey(key: KeyObject): boolean {
  if (key.asymmetricKeyType === "ec") return keyTypeOf(key) !== undefined;
  return key.asymmetricKeyType === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
}

/** Builds the pair for an imported private key, refusing unsupported algorithms. */
export function keyPairFromPrivate(privateKey: KeyObject, source: string): KeyPair {
  if (privateKey.type !== "private") throw new TypeError(`${source}: expected a private key, got a ${privateKey.type} key`);
  if (keyTypeOf(privateKey) === undefined) {
    const d = privateKey.asymmetricKeyDetails;
    const desc = `${privateKey.asymmetricKeyType ?? "unknown"}${d?.namedCurve ? ` ${d.namedCurve}` : ""}${d?.modulusLength ? ` ${d.modulusLength} bits` : ""}`;
    throw spindleError("ERR_KEY_UNSUPPORTED", `${source}: unsupported key (${desc}); supported: ${KEY_TYPES.join(", ")}`);
  }
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Key ids become file names in the disk key manager, so they are restricted to a safe alphabet. */
export function assertKeyId(id: string): void {
  if (typeof id !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) {
    throw new TypeError(`invalid key id ${JSON.stringify(id)}: use 1-128 of [A-Za-z0-9._-], starting with a letter or digit`);
  }
}
