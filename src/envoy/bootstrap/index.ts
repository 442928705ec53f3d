// Envoy bootstrap generation for Spindle's SDS and ECDS: pure functions returning plain JSON.
import type { JsonObject } from "@bufbuild/protobuf";
import { stringify } from "yaml";
import { buildBootstrap } from "./build.js";
import { parseBootstrapOptions } from "./options.js";
import type { BootstrapInput } from "./options.js";

export { APP_CLUSTER, UPSTREAM_CLUSTER, agentCluster, buildBootstrap, hostCluster } from "./build.js";
export { hostPort, parseBootstrapOptions } from "./options.js";
export type { AuthzMode, BootstrapInput, BootstrapOptions, BootstrapRole, HostPort } from "./options.js";
export { AGENT_CLUSTER, AUTHZ_FILTERS, DEFAULT_AGENT_SOCKET, EXTENSION, TYPE_URL } from "./constants.js";
export { agentConfigSource, commonTlsContext, sdsSecret } from "./tls.js";
export { ecdsRbacFilter } from "./listeners.js";

export type BootstrapFormat = "yaml" | "json";

/** Validates `input` (ERR_CONFIG_INVALID listing every bad flag) and builds the bootstrap. */
export function generateBootstrap(input: BootstrapInput): JsonObject {
  return buildBootstrap(parseBootstrapOptions(input));
}

/** Renders a bootstrap as YAML (Envoy's usual form) or JSON, newline-terminated. */
export function renderBootstrap(bootstrap: JsonObject, format: BootstrapFormat): string {
  if (format === "json") return `${JSON.stringify(bootstrap, null, 2)}\n`;
  return stringify(bootstrap, { lineWidth: 0, aliasDuplicateObjects: false });
}
