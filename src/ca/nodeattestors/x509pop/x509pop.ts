// x509pop node attestor: the agent presents a certificate chain ending at a configured CA and
// proves possession of the leaf's private key by signing a fresh server nonce inside the Attest
// stream. Agent ID: spiffe://<td>/spindle/agent/x509pop/<fingerprint of the leaf DER>.
import { createHash, randomBytes, verify, type KeyObject } from "node:crypto";
import type { Clock } from "../../../common/clock.js";
import { spindleError } from "../../../common/errors.js";
import { parseCertificate, selectorOf, spiffeIdFromParts, type ParsedCertificate, type Selector, type SelectorKey, type TrustDomain } from "../../../spiffe/index.js";
// Chain building is internal to src/spiffe (not on its index); reused here rather than duplicated.
import { verifyChain } from "../../../spiffe/x509-chain.js";
import { attestationFailed, decodeJsonPayload } from "../config.js";
import type { NodeAttestorPlugin } from "../plugin.js";
import { X509POP_PLUGIN, type FingerprintAlgorithm } from "./config.js";
import { subjectAttributes } from "./subject.js";

/** Domain separation: a signature over a nonce is only ever valid as an x509pop answer. */
export const X509POP_CHALLENGE_CONTEXT = Buffer.from("spindle x509pop challenge v1\0", "latin1");
export const X509POP_NONCE_BYTES = 32;
const MAX_CHAIN = 8;

export interface X509PopAttestorOptions {
  trustDomain: TrustDomain;
  /** DER CA certificates (the configured bundle). */
  caCertificates: readonly Uint8Array[];
  agentIdFingerprint?: FingerprintAlgorithm;
  clock: Clock;
}

/** The signature hash for a key: null (intrinsic) for Ed25519, sha256 otherwise. */
export function x509PopHash(key: KeyObject): string | null {
  return key.asymmetricKeyType === "ed25519" ? null : "sha256";
}

function fingerprint(der: Uint8Array, alg: string): string {
  return createHash(alg).update(der).digest("hex");
}

function selectorsOf(leaf: ParsedCertificate, path: readonly ParsedCertificate[], anchor: ParsedCertificate): Selector[] {
  const out: Selector[] = [];
  const add = (key: SelectorKey<typeof X509POP_PLUGIN>, value: string) => out.push(selectorOf(X509POP_PLUGIN, key, value));
  let subject;
  try {
    subject = subjectAttributes(leaf.subjectDer);
  } catch (err) {
    throw attestationFailed(X509POP_PLUGIN, `the leaf certificate's subject cannot be read: ${(err as Error).message}`, err);
  }
  for (const a of subject) add(`subject:${a.name}`, a.value);
  for (const ca of [...path.slice(1), anchor]) add("ca:fingerprint", fingerprint(ca.der, "sha256"));
  for (const dns of leaf.dnsNames) add("san:dns", dns);
  for (const uri of leaf.uris) add("san:uri", uri);
  add("serialnumber", leaf.serialNumber.toLowerCase());
  return out;
}

function decodeChain(payload: Uint8Array): Buffer[] {
  const list = decodeJsonPayload(payload, X509POP_PLUGIN)["certificates"];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_CHAIN || list.some((c) => typeof c !== "string")) {
    throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${X509POP_PLUGIN}: payload.certificates must list 1-${MAX_CHAIN} base64 DER certificates, leaf first`);
  }
  return (list as string[]).map((c) => Buffer.from(c, "base64"));
}

function decodeSignature(answer: Uint8Array): Buffer {
  const sig = decodeJsonPayload(answer, X509POP_PLUGIN)["signature"];
  if (typeof sig !== "string" || sig === "") throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${X509POP_PLUGIN}: the challenge response has no signature`);
  return Buffer.from(sig, "base64");
}

export function createX509PopAttestor(options: X509PopAttestorOptions): NodeAttestorPlugin {
  if (options.caCertificates.length === 0) throw new TypeError("createX509PopAttestor: at least one CA certificate is required");
  const anchors = options.caCertificates.map((d) => parseCertificate(d));
  const fpAlg = options.agentIdFingerprint ?? "sha256";
  return {
    name: X509POP_PLUGIN,
    async attest(payload, challenge, beforeCommit) {
      const ders = decodeChain(payload);
      let presented: ParsedCertificate[];
      try {
        presented = ders.map((d) => parseCertificate(d));
      } catch (err) {
        throw attestationFailed(X509POP_PLUGIN, `a presented certificate is not valid DER: ${(err as Error).message}`, err);
      }
      const leaf = presented[0]!;
      if (leaf.basicConstraints?.ca === true) throw attestationFailed(X509POP_PLUGIN, "the leaf certificate is a CA certificate");
      let verified;
      try {
        verified = verifyChain({ presented, anchors, trustDomain: `${X509POP_PLUGIN} CA bundle`, now: options.clock.now() });
      } catch (err) {
        throw attestationFailed(X509POP_PLUGIN, `the certificate does not chain to the configured CA bundle: ${(err as Error).message}`, err);
      }
      const nonce = randomBytes(X509POP_NONCE_BYTES);
      const answer = await challenge(Buffer.from(JSON.stringify({ nonce: nonce.toString("base64") })));
      const signature = decodeSignature(answer);
      const publicKey = leaf.x509.publicKey;
      let ok = false;
      try {
        ok = verify(x509PopHash(publicKey), Buffer.concat([X509POP_CHALLENGE_CONTEXT, nonce]), publicKey, signature);
      } catch {
        ok = false;
      }
      if (!ok) throw attestationFailed(X509POP_PLUGIN, "the challenge signature does not verify with the leaf certificate's key (proof of possession failed)");
      const agentId = spiffeIdFromParts(options.trustDomain, "spindle", "agent", X509POP_PLUGIN, fingerprint(leaf.der, fpAlg)).toString();
      await beforeCommit(agentId);
      return { agentId, selectors: selectorsOf(leaf, verified.path, verified.anchor), canReattest: true };
    },
  };
}
