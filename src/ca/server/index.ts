export { createServer, type Server, type ServerDeps } from "./server.js";
export { formatHostPort, type ServerOptions, type HostPort, type UpstreamAuthorityFiles, type AgentApiLimits } from "./options.js";
export { createServerMetrics, type ServerMetrics } from "./metrics.js";
export { startHttpEndpoints } from "../../transport/http-endpoints.js";
