// Agent side of x509pop: sends the node certificate chain and signs the server's nonce with the
// node key. Payload: {"certificates": [base64 DER, leaf first]}; challenge: {"nonce": base64};
// answer: {"signature": base64} over CHALLENGE_CONTEXT || nonce (sha256; Ed25519 signs directly).
import { readFileSync } from "node:fs";
import { createPrivateKey, sign, type KeyObject } from "node:crypto";
import { spindleError } from "../../../common/errors.js";
import { pemToDers } from "../../../common/pem.js";
import { jsonBytes, readAgentConfig, type AgentNodeAttestor } from "../plugin.js";

export const X509POP_PLUGIN = "x509pop";
/** Must equal the server's context (src/ca/nodeattestors/x509pop); a test checks they agree. */
export const X509POP_CHALLENGE_CONTEXT = Buffer.from("spindle x509pop challenge v1\0", "latin1");

export interface X509PopAgentConfig {
  readonly certificatePath: string;
  readonly privateKeyPath: string;
  /** Intermediates between the node certificate and the server's CA bundle (PEM). */
  readonly intermediatesPath?: string;
}

export function parseX509PopAgentConfig(raw: unknown, path = `node_attestor.${X509POP_PLUGIN}`): X509PopAgentConfig {
  const c = readAgentConfig(
    raw,
    path,
    { certificate_path: { required: true }, private_key_path: { required: true }, intermediates_path: {} },
    `${X509POP_PLUGIN} node attestor`,
  );
  return Object.freeze({ certificatePath: c["certificate_path"]!, privateKeyPath: c["private_key_path"]!, intermediatesPath: c["intermediates_path"] });
}

function readPemFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw spindleError("ERR_CONFIG_READ", `${X509POP_PLUGIN}: cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Loads the files named by the config (certificate chain and private key). */
export function loadX509PopAgentAttestor(config: X509PopAgentConfig): AgentNodeAttestor {
  const chain = pemToDers(readPemFile(config.certificatePath, "certificate_path"), "CERTIFICATE");
  if (chain.length === 0) throw spindleError("ERR_CONFIG_INVALID", `${X509POP_PLUGIN}: ${config.certificatePath} holds no CERTIFICATE`);
  if (config.intermediatesPath !== undefined) chain.push(...pemToDers(readPemFile(config.intermediatesPath, "intermediates_path"), "CERTIFICATE"));
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readPemFile(config.privateKeyPath, "private_key_path"));
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_CONFIG_READ") throw err;
    throw spindleError("ERR_CONFIG_INVALID", `${X509POP_PLUGIN}: ${config.privateKeyPath} is not a PEM private key`, { cause: err });
  }
  return createX509PopAgentAttestor({ certificateChainDer: chain, privateKey });
}

export interface X509PopAgentOptions {
  /** Leaf first, then intermediates. */
  certificateChainDer: readonly Uint8Array[];
  privateKey: KeyObject;
}

export function createX509PopAgentAttestor(options: X509PopAgentOptions): AgentNodeAttestor {
  return {
    name: X509POP_PLUGIN,
    payload: async () => jsonBytes({ certificates: options.certificateChainDer.map((d) => Buffer.from(d).toString("base64")) }),
    async answer(challenge) {
      let nonce: unknown;
      try {
        nonce = (JSON.parse(Buffer.from(challenge).toString("utf8")) as { nonce?: unknown }).nonce;
      } catch {
        nonce = undefined;
      }
      if (typeof nonce !== "string" || nonce === "") throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${X509POP_PLUGIN}: the server's challenge has no nonce`);
      const hash = options.privateKey.asymmetricKeyType === "ed25519" ? null : "sha256";
      const signature = sign(hash, Buffer.concat([X509POP_CHALLENGE_CONTEXT, Buffer.from(nonce, "base64")]), options.privateKey);
      return jsonBytes({ signature: signature.toString("base64") });
    },
  };
}
