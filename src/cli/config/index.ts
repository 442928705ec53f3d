export { loadServerConfig, parseHostPort, type ServerFlags, type LoadServerConfigOptions } from "./server-config.js";
export { parseDurationSeconds, formatDuration } from "./duration.js";
export { readYamlFile, expandEnv, zodProblems, configInvalid } from "./load.js";
export { socketDefaults, defaultWorkloadSocket, SYSTEM_RUNTIME_DIR, type SocketDefaults } from "./socket-defaults.js";
