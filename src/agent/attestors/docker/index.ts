// The `docker` workload attestor plugin.
export { createDockerAttestor, dockerSelectorsOf, type DockerAttestorOptions } from "./docker-attestor.js";
export { parseDockerAttestorConfig, DOCKER_ATTESTOR_NAME, DEFAULT_DOCKER_SOCKET, type DockerAttestorConfig } from "./config.js";
export type { DockerContainer, InspectContainer } from "./docker-client.js";
