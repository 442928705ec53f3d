export { loadServerConfig, parseHostPort, DEFAULT_ADMIN_SOCKET, type ServerFlags, type LoadServerConfigOptions } from "./server-config.js";
export { parseDurationSeconds, formatDuration } from "./duration.js";
export { readYamlFile, expandEnv, zodProblems, configInvalid } from "./load.js";
