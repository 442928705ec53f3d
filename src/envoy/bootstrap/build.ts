// Builds a complete Envoy v3 bootstrap (plain JSON, snake_case field names) for a sidecar or a
// gateway that gets its certificates from the Spindle agent over SDS (docs/envoy.md).
import type { JsonObject } from "@bufbuild/protobuf";
import { listener, socketAddress } from "./listeners.js";
import type { BootstrapOptions, HostPort } from "./options.js";
import { downstreamMtls, downstreamTls, upstreamMtls } from "./tls.js";
import { AGENT_CLUSTER, EXTENSION, TYPE_URL } from "./constants.js";

export const APP_CLUSTER = "local_app";
export const UPSTREAM_CLUSTER = "upstream";

/**
 * The agent cluster: one static endpoint on the agent's Unix socket (`pipe.path`), spoken to
 * with HTTP/2 because SDS and ECDS are gRPC. Envoy's default HTTP/2 stream limit is left alone:
 * it opens one stream per secret name.
 */
export function agentCluster(socketPath: string): JsonObject {
  return {
    name: AGENT_CLUSTER,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: AGENT_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socketPath } } } }] }],
    },
    typed_extension_protocol_options: {
      [EXTENSION.httpProtocolOptions]: {
        "@type": TYPE_URL.httpProtocolOptions,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}

/** A cluster of one endpoint: STATIC for an IP literal, STRICT_DNS for a host name. */
export function hostCluster(name: string, target: HostPort, transportSocket?: JsonObject): JsonObject {
  const cluster: JsonObject = {
    name,
    type: target.isIp ? "STATIC" : "STRICT_DNS",
    connect_timeout: "5s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(target) } }] }] },
  };
  if (transportSocket) cluster["transport_socket"] = transportSocket;
  return cluster;
}

/** The bootstrap for validated options (see parseBootstrapOptions). Pure: same input, same output. */
export function buildBootstrap(o: BootstrapOptions): JsonObject {
  const listeners: JsonObject[] = [];
  const clusters: JsonObject[] = [agentCluster(o.socketPath)];
  const upstreamTls = () => upstreamMtls(o.certificateName, o.validationContextName, o.upstreamIds);

  if (o.role === "sidecar") {
    listeners.push(listener({
      name: "inbound_mtls", address: o.listen, statPrefix: "inbound", cluster: APP_CLUSTER,
      authz: o.authz === "ecds", forwardClientCert: true,
      transportSocket: downstreamMtls(o.certificateName, o.validationContextName, o.peerIds),
    }));
    clusters.push(hostCluster(APP_CLUSTER, o.app));
    if (o.upstream) {
      listeners.push(listener({
        name: "outbound", address: o.outboundListen, statPrefix: "outbound", cluster: UPSTREAM_CLUSTER,
        authz: false, forwardClientCert: false,
      }));
      clusters.push(hostCluster(UPSTREAM_CLUSTER, o.upstream, upstreamTls()));
    }
  } else if (o.upstream) {
    listeners.push(listener({
      name: "edge_tls", address: o.listen, statPrefix: "edge", cluster: UPSTREAM_CLUSTER,
      authz: false, forwardClientCert: false, transportSocket: downstreamTls(o.certificateName),
    }));
    clusters.push(hostCluster(UPSTREAM_CLUSTER, o.upstream, upstreamTls()));
  }

  return {
    node: { id: o.nodeId, cluster: o.cluster },
    admin: { address: socketAddress(o.admin) },
    static_resources: { listeners, clusters },
  };
}
