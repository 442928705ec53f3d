// The `unix` workload attestor plugin.
export { createUnixAttestor, UNIX_ATTESTOR_NAME, type UnixAttestorOptions } from "./unix-attestor.js";
export { parseUnixAttestorConfig, DEFAULT_WORKLOAD_SIZE_LIMIT, type UnixAttestorConfig } from "./config.js";
