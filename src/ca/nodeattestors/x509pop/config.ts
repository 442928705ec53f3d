// Configuration of the server-side x509pop node attestor (`node_attestors.x509pop`).
import { readFileSync } from "node:fs";
import { spindleError } from "../../../common/errors.js";
import { pemToDers } from "../../../common/pem.js";
import { createConfigReader } from "../config.js";

export const X509POP_PLUGIN = "x509pop";

export type FingerprintAlgorithm = "sha1" | "sha256";

export interface X509PopServerConfig {
  /** PEM file of the CA certificates agent certificates must chain to. */
  readonly caBundlePath: string;
  /** Hash of the leaf DER used in the agent ID. Default sha256. */
  readonly agentIdFingerprint: FingerprintAlgorithm;
}

const KEYS = ["ca_bundle_path", "agent_id_fingerprint"] as const;

export function parseX509PopServerConfig(raw: unknown, path = `node_attestors.${X509POP_PLUGIN}`): X509PopServerConfig {
  const r = createConfigReader();
  const obj = r.mapping(raw, path, KEYS) ?? {};
  const caBundlePath = r.string(obj, "ca_bundle_path", path, { required: true });
  const fp = r.string(obj, "agent_id_fingerprint", path, { pattern: /^(sha1|sha256)$/, hint: 'must be "sha1" or "sha256"' }) ?? "sha256";
  r.done(`${X509POP_PLUGIN} node attestor`);
  return Object.freeze({ caBundlePath: caBundlePath!, agentIdFingerprint: fp as FingerprintAlgorithm });
}

/** Reads the CA bundle file; ERR_CONFIG_READ when unreadable, ERR_CONFIG_INVALID when it holds no certificate. */
export function readCaBundle(path: string): Buffer[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw spindleError("ERR_CONFIG_READ", `${X509POP_PLUGIN}: cannot read ca_bundle_path ${path}: ${(err as Error).message}`, { cause: err });
  }
  let ders: Buffer[];
  try {
    ders = pemToDers(text, "CERTIFICATE");
  } catch (err) {
    throw spindleError("ERR_CONFIG_INVALID", `${X509POP_PLUGIN}: ca_bundle_path ${path} is not valid PEM: ${(err as Error).message}`, { cause: err });
  }
  if (ders.length === 0) throw spindleError("ERR_CONFIG_INVALID", `${X509POP_PLUGIN}: ca_bundle_path ${path} holds no CERTIFICATE block`);
  return ders;
}
