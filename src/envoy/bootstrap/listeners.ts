// Listeners and their HTTP connection managers.
import type { JsonObject } from "@bufbuild/protobuf";
import type { HostPort } from "./options.js";
import { agentConfigSource } from "./tls.js";
import { AUTHZ_FILTERS, EXTENSION, TYPE_URL } from "./constants.js";

export function socketAddress(a: HostPort): JsonObject {
  return { socket_address: { address: a.host, port_value: a.port } };
}

/**
 * One ECDS-fed RBAC filter (HttpFilter.config_discovery). Until the agent answers, and whenever it
 * cannot, the default config applies: ALLOW with no policies, which denies every request.
 * apply_default_config_without_warming is false so the listener waits for the real policy.
 */
export function ecdsRbacFilter(name: string): JsonObject {
  return {
    name,
    config_discovery: {
      config_source: agentConfigSource(),
      default_config: { "@type": TYPE_URL.rbac, rules: { action: "ALLOW" } },
      apply_default_config_without_warming: false,
      type_urls: [TYPE_URL.rbac],
    },
  };
}

export interface HcmOptions {
  statPrefix: string;
  cluster: string;
  /** Adds the ECDS RBAC filters (deny, then allow) before the router. */
  authz: boolean;
  /** Inbound mTLS: pass the caller's SPIFFE ID to the app in x-forwarded-client-cert. */
  forwardClientCert: boolean;
}

export function httpConnectionManager(o: HcmOptions): JsonObject {
  const httpFilters = [
    ...(o.authz ? AUTHZ_FILTERS.map(ecdsRbacFilter) : []),
    { name: EXTENSION.router, typed_config: { "@type": TYPE_URL.router } },
  ];
  const xfcc: JsonObject = o.forwardClientCert
    ? { forward_client_cert_details: "SANITIZE_SET", set_current_client_cert_details: { uri: true } }
    : { forward_client_cert_details: "SANITIZE" };
  return {
    name: EXTENSION.httpConnectionManager,
    typed_config: {
      "@type": TYPE_URL.httpConnectionManager,
      stat_prefix: o.statPrefix,
      codec_type: "AUTO",
      ...xfcc,
      access_log: [{ name: EXTENSION.stdoutAccessLog, typed_config: { "@type": TYPE_URL.stdoutAccessLog } }],
      route_config: {
        name: `${o.statPrefix}_routes`,
        virtual_hosts: [{ name: o.statPrefix, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: o.cluster } }] }],
      },
      http_filters: httpFilters,
    },
  };
}

export interface ListenerOptions extends HcmOptions {
  name: string;
  address: HostPort;
  /** A transport_socket (TLS) for the filter chain; plain TCP when absent. */
  transportSocket?: JsonObject;
}

export function listener(o: ListenerOptions): JsonObject {
  const chain: JsonObject = { filters: [httpConnectionManager(o)] };
  if (o.transportSocket) chain["transport_socket"] = o.transportSocket;
  return { name: o.name, address: socketAddress(o.address), filter_chains: [chain] };
}
