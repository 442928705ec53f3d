// Every `@type`, extension name and fixed name the generated bootstraps use, in one place. Each
// type URL names a message generated into src/gen, so the validator can resolve it. No imports:
// the CLI loads this for its help text without loading the generator.
const PREFIX = "type.googleapis.com/";

export const TYPE_URL = {
  httpConnectionManager: `${PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  router: `${PREFIX}envoy.extensions.filters.http.router.v3.Router`,
  rbac: `${PREFIX}envoy.extensions.filters.http.rbac.v3.RBAC`,
  downstreamTlsContext: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  upstreamTlsContext: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  httpProtocolOptions: `${PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
  stdoutAccessLog: `${PREFIX}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
} as const;

/** Canonical Envoy extension names (the `name` beside each typed_config). */
export const EXTENSION = {
  httpConnectionManager: "envoy.filters.network.http_connection_manager",
  router: "envoy.filters.http.router",
  tls: "envoy.transport_sockets.tls",
  stdoutAccessLog: "envoy.access_loggers.stdout",
  // The key of typed_extension_protocol_options is the options' message name.
  httpProtocolOptions: "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
} as const;

/** ECDS filter names (docs/authz.md, "Delivery (ECDS)"): DENY before ALLOW, both before the router. */
export const AUTHZ_FILTERS = ["spindle.authz.deny", "spindle.authz.allow"] as const;

/** The static cluster that reaches the agent socket. */
export const AGENT_CLUSTER = "spindle_agent";

/** The public socket of an agent run as root (Workload API + SDS + ECDS) when its config does not move it. */
export const DEFAULT_AGENT_SOCKET = "/run/spindle/agent/public/api.sock";
