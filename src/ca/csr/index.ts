// PKCS#10 CSR parsing and verification for the agent API (docs/node-attestation.md).
export { parseAndVerifyCsr } from "./parse-csr.js";
export type { ParsedCsr } from "./parse-csr.js";
