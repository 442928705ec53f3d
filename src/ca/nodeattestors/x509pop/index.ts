export { X509POP_PLUGIN, parseX509PopServerConfig, readCaBundle } from "./config.js";
export type { X509PopServerConfig, FingerprintAlgorithm } from "./config.js";
export { createX509PopAttestor, x509PopHash, X509POP_CHALLENGE_CONTEXT, X509POP_NONCE_BYTES } from "./x509pop.js";
export type { X509PopAttestorOptions } from "./x509pop.js";
