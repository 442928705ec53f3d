// PKCS#10 CSR parsing and verification for the agent API (issue 4).
export { parseAndVerifyCsr } from "./parse-csr.js";
export type { ParsedCsr } from "./parse-csr.js";
