import { test } from "node:test";
import assert from "node:assert/strict";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { parse } from "yaml";
import { ALLOW_FILTER_NAME, DENY_FILTER_NAME } from "../../authz/envoy-json.js";
import { decodeEnvoyConfig, envoyRegistry } from "../schema.js";
import { SpindleError } from "../../common/errors.js";
import { BootstrapSchema } from "../../gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import { AUTHZ_FILTERS, DEFAULT_AGENT_SOCKET, generateBootstrap, renderBootstrap, TYPE_URL } from "./index.js";
import type { BootstrapInput } from "./index.js";

const WEB = "spiffe://example.org/web";
const API = "spiffe://example.org/api";
const PARTNER = "spiffe://partner.test/billing";

const VARIANTS: Record<string, BootstrapInput> = {
  "sidecar, inbound only": { role: "sidecar", spiffeId: WEB, peerIds: [API] },
  "sidecar, inbound + outbound": { role: "sidecar", spiffeId: WEB, peerIds: [API], upstream: "api.internal:8443" },
  "sidecar, ecds authz, default certificate": { role: "sidecar", authz: "ecds", upstream: "10.0.0.7:8443", upstreamIds: [API] },
  "sidecar, IPv6 and custom socket": {
    role: "sidecar", spiffeId: WEB, peerIds: [API], listen: "[::]:15001", app: "[::1]:3000", socketPath: "/run/spindle/api.sock",
    admin: "127.0.0.1:15000", nodeId: "web-7", cluster: "web",
  },
  gateway: { role: "gateway", spiffeId: "spiffe://example.org/gateway", peerIds: [API], upstream: "api:8443" },
  "federated gateway": { role: "gateway", spiffeId: "spiffe://example.org/gateway", peerIds: [PARTNER], upstream: "billing.partner.test:443" },
};

type Obj = { [k: string]: JsonValue };
const obj = (v: JsonValue | undefined): Obj => {
  assert.ok(v !== null && typeof v === "object" && !Array.isArray(v), `expected an object, got ${JSON.stringify(v)}`);
  return v;
};
const list = (v: JsonValue | undefined): JsonValue[] => {
  assert.ok(Array.isArray(v), `expected a list, got ${JSON.stringify(v)}`);
  return v;
};

/** Every object stored under `key` anywhere in the tree. */
function collect(v: JsonValue, key: string, out: JsonValue[] = []): JsonValue[] {
  if (Array.isArray(v)) v.forEach((x) => collect(x, key, out));
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (k === key) out.push(x);
      collect(x, key, out);
    }
  }
  return out;
}

const listeners = (b: JsonObject) => list(obj(b["static_resources"])["listeners"]).map(obj);
const clusters = (b: JsonObject) => list(obj(b["static_resources"])["clusters"]).map(obj);
const hcmOf = (l: Obj) => obj(obj(obj(list(obj(list(l["filter_chains"])[0])["filters"])[0])["typed_config"]));
const commonTls = (holder: Obj) => obj(obj(obj(holder["transport_socket"])["typed_config"])["common_tls_context"]);

test("every variant, as YAML and as JSON, decodes as an Envoy Bootstrap with all @types resolved", () => {
  const registry = envoyRegistry();
  for (const [name, input] of Object.entries(VARIANTS)) {
    const b = generateBootstrap(input);
    for (const format of ["yaml", "json"] as const) {
      const text = renderBootstrap(b, format);
      assert.deepEqual(format === "json" ? JSON.parse(text) : parse(text), b, `${name}: ${format} round trip`);
      const message = decodeEnvoyConfig(BootstrapSchema, text, { format, registry, source: `${name} (${format})` });
      assert.equal(message.staticResources?.clusters[0]?.name, "spindle_agent", name);
    }
    for (const tc of [...collect(b, "typed_config"), ...collect(b, "default_config")]) {
      assert.match(String(obj(tc)["@type"]), /^type\.googleapis\.com\/envoy\./, `${name}: typed_config without an explicit @type`);
    }
    assert.deepEqual(generateBootstrap(input), b, `${name}: generation is deterministic`);
  }
});

test("the agent cluster reaches the socket over a pipe with HTTP/2, and every secret is fetched from it", () => {
  for (const [name, input] of Object.entries(VARIANTS)) {
    const b = generateBootstrap(input);
    const agent = clusters(b)[0]!;
    assert.equal(agent["name"], "spindle_agent");
    const [pipe] = collect(agent, "pipe");
    assert.deepEqual(pipe, { path: input.socketPath ?? DEFAULT_AGENT_SOCKET }, name);
    const options = obj(obj(agent["typed_extension_protocol_options"])["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]);
    assert.equal(options["@type"], TYPE_URL.httpProtocolOptions);
    assert.deepEqual(options["explicit_http_config"], { http2_protocol_options: {} });
    const sources = [...collect(b, "sds_config"), ...collect(b, "config_source")];
    assert.ok(sources.length >= 2, name);
    for (const s of sources) {
      assert.deepEqual(s, {
        resource_api_version: "V3",
        api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "spindle_agent" } }] },
      }, name);
    }
  }
});

test("sidecar: inbound mTLS to the local app pinned to the peer IDs, outbound mTLS to the upstream", () => {
  const b = generateBootstrap(VARIANTS["sidecar, inbound + outbound"]!);
  const [inbound, outbound] = listeners(b);
  assert.equal(inbound?.["name"], "inbound_mtls");
  const down = obj(obj(obj(list(inbound!["filter_chains"])[0])["transport_socket"])["typed_config"]);
  assert.equal(down["@type"], TYPE_URL.downstreamTlsContext);
  assert.equal(down["require_client_certificate"], true);
  const tls = obj(down["common_tls_context"]);
  assert.deepEqual(list(tls["tls_certificate_sds_secret_configs"]).map((s) => obj(s)["name"]), [WEB]);
  assert.deepEqual(obj(tls["combined_validation_context"])["default_validation_context"], {
    match_typed_subject_alt_names: [{ san_type: "URI", matcher: { exact: API } }],
  });
  assert.equal(obj(obj(tls["combined_validation_context"])["validation_context_sds_secret_config"])["name"], "ROOTCA");
  assert.deepEqual(collect(hcmOf(inbound!), "cluster"), ["local_app"]);
  assert.deepEqual(obj(hcmOf(inbound!)["set_current_client_cert_details"]), { uri: true });
  assert.equal(outbound?.["filter_chains"] && obj(list(outbound["filter_chains"])[0])["transport_socket"], undefined, "outbound listener is plain");
  assert.deepEqual(collect(hcmOf(outbound!), "cluster"), ["upstream"]);
  const upstream = clusters(b).find((c) => c["name"] === "upstream")!;
  assert.equal(obj(obj(upstream["transport_socket"])["typed_config"])["@type"], TYPE_URL.upstreamTlsContext);
  assert.deepEqual(collect(commonTls(upstream), "exact"), [API]);
  assert.equal(upstream["type"], "STRICT_DNS");
  assert.equal(clusters(b).find((c) => c["name"] === "local_app")?.["type"], "STATIC");
  assert.equal(listeners(generateBootstrap(VARIANTS["sidecar, inbound only"]!)).length, 1);
});

test("--authz ecds puts fail-closed RBAC filters, deny then allow, before the router", () => {
  const b = generateBootstrap(VARIANTS["sidecar, ecds authz, default certificate"]!);
  const [inbound, outbound] = listeners(b);
  const filters = list(hcmOf(inbound!)["http_filters"]).map(obj);
  assert.deepEqual(filters.map((f) => f["name"]), [...AUTHZ_FILTERS, "envoy.filters.http.router"]);
  assert.deepEqual(AUTHZ_FILTERS, ["spindle.authz.deny", "spindle.authz.allow"]);
  // The names ECDS resources are requested by must be the ones the authz compiler emits.
  assert.deepEqual(AUTHZ_FILTERS, [DENY_FILTER_NAME, ALLOW_FILTER_NAME]);
  for (const f of filters.slice(0, 2)) {
    const cd = obj(f["config_discovery"]);
    assert.deepEqual(cd["default_config"], { "@type": TYPE_URL.rbac, rules: { action: "ALLOW" } });
    assert.equal(cd["apply_default_config_without_warming"], false);
    assert.deepEqual(cd["type_urls"], [TYPE_URL.rbac]);
    assert.equal(f["typed_config"], undefined);
  }
  assert.deepEqual(list(hcmOf(outbound!)["http_filters"]).map((f) => obj(f)["name"]), ["envoy.filters.http.router"]);
  const chain = obj(list(inbound!["filter_chains"])[0]);
  assert.deepEqual(list(commonTls(chain)["tls_certificate_sds_secret_configs"]).map((s) => obj(s)["name"]), ["default"]);
  assert.deepEqual(obj(commonTls(chain)["combined_validation_context"])["default_validation_context"], {}, "callers are left to RBAC");
  const none = generateBootstrap(VARIANTS["sidecar, inbound only"]!);
  assert.deepEqual(list(hcmOf(listeners(none)[0]!)["http_filters"]).map((f) => obj(f)["name"]), ["envoy.filters.http.router"]);
});

test("gateway: edge TLS with the SVID, mTLS to the upstream; a peer in another trust domain selects ALL", () => {
  const b = generateBootstrap(VARIANTS.gateway!);
  const [edge] = listeners(b);
  const down = obj(obj(obj(list(edge!["filter_chains"])[0])["transport_socket"])["typed_config"]);
  assert.equal(down["require_client_certificate"], undefined);
  assert.deepEqual(collect(down, "name"), ["spiffe://example.org/gateway"]);
  assert.equal(collect(b, "validation_context_sds_secret_config").map((v) => obj(v)["name"]).join(), "ROOTCA");
  const fed = generateBootstrap(VARIANTS["federated gateway"]!);
  assert.equal(collect(fed, "validation_context_sds_secret_config").map((v) => obj(v)["name"]).join(), "ALL");
  assert.deepEqual(collect(fed, "exact"), [PARTNER]);
  const forced = generateBootstrap({ ...VARIANTS.gateway, validationContext: "spiffe://example.org" });
  assert.equal(collect(forced, "validation_context_sds_secret_config").map((v) => obj(v)["name"]).join(), "spiffe://example.org");
  const defaultCert = generateBootstrap({ role: "gateway", upstream: "a:1", peerIds: [API, PARTNER] });
  assert.equal(collect(defaultCert, "validation_context_sds_secret_config").map((v) => obj(v)["name"]).join(), "ALL");
});

test("listeners and the admin interface bind IP literals: localhost becomes 127.0.0.1, names stay only on clusters", () => {
  const b = generateBootstrap({ role: "sidecar", peerIds: [API], listen: "localhost:8443", admin: "LOCALHOST:9901", app: "localhost:8080", upstream: "localhost:7443", outboundListen: "localhost:9000" });
  const [inbound, outbound] = listeners(b);
  assert.deepEqual(obj(inbound!["address"])["socket_address"], { address: "127.0.0.1", port_value: 8443 });
  assert.deepEqual(obj(outbound!["address"])["socket_address"], { address: "127.0.0.1", port_value: 9000 });
  assert.deepEqual(obj(obj(b["admin"])["address"])["socket_address"], { address: "127.0.0.1", port_value: 9901 });
  // Clusters resolve names themselves (STRICT_DNS): the app and the upstream keep theirs.
  const addresses = collect(b, "socket_address").map((a) => obj(a)["address"]);
  assert.deepEqual(addresses.filter((a) => a === "localhost").length, 2, JSON.stringify(addresses));
  assert.ok(!JSON.stringify(listeners(b)).includes("localhost"));
});

test("bad flags are all reported with ERR_CONFIG_INVALID, each naming its flag", () => {
  const cases: [BootstrapInput, RegExp][] = [
    [{}, /--role: is required/],
    [{ role: "mesh" }, /--role: must be sidecar or gateway, got "mesh"/],
    [{ role: "sidecar", spiffeId: "spiffe://Example.org/web", peerIds: [API] }, /--spiffe-id: .*"E" is not allowed/],
    [{ role: "sidecar", spiffeId: "spiffe://example.org", peerIds: [API] }, /--spiffe-id: .*workload ID needs a path/],
    [{ role: "sidecar", peerIds: ["http://example.org/x"] }, /--peer-id: .*spiffe:\/\//],
    [{ role: "sidecar" }, /--peer-id: give the SPIFFE ID\(s\) allowed to call this sidecar/],
    [{ role: "sidecar", authz: "ecds", upstream: "a:1" }, /--peer-id: give the SPIFFE ID\(s\) the upstream must present/],
    [{ role: "sidecar", peerIds: [API], authz: "opa" }, /--authz: must be none or ecds/],
    [{ role: "gateway", peerIds: [API] }, /--upstream: is required with --role gateway/],
    [{ role: "gateway", peerIds: [API], upstream: "a:1", authz: "ecds" }, /--authz: ecds needs an mTLS inbound listener/],
    [{ role: "gateway", peerIds: [API], upstream: "a:1", app: "b:2" }, /--app: only applies to --role sidecar/],
    [{ role: "sidecar", peerIds: [API], listen: "8443" }, /--listen: must be HOST:PORT/],
    [{ role: "sidecar", peerIds: [API], app: "localhost:70000" }, /--app: must be HOST:PORT.*"localhost:70000"/],
    [{ role: "sidecar", peerIds: [API], admin: "[zz]:1" }, /--admin: must be HOST:PORT/],
    [{ role: "sidecar", peerIds: [API], listen: "web.internal:8443" }, /--listen: Envoy binds listeners and its admin interface to IP addresses only, got the name "web.internal"/],
    [{ role: "sidecar", peerIds: [API], upstream: "a:1", outboundListen: "app-host:9000" }, /--outbound-listen: Envoy binds .* "app-host"/],
    [{ role: "sidecar", peerIds: [API], admin: "envoy-admin:9901" }, /--admin: Envoy binds .* "envoy-admin"/],
    [{ role: "sidecar", peerIds: [API], socketPath: "run/api.sock" }, /--socket-path: must be an absolute path/],
    [{ role: "sidecar", peerIds: [API], validationContext: "EVERYTHING" }, /--validation-context: must be ROOTCA, ALL or spiffe:\/\/<trust-domain>/],
    [{ role: "sidecar", peerIds: [API], validationContext: API }, /--validation-context: must be ROOTCA/],
    [{ role: "sidecar", peerIds: [API], nodeId: "a b" }, /--node-id: must be non-empty/],
  ];
  for (const [input, want] of cases) {
    assert.throws(() => generateBootstrap(input), (err) => {
      assert.ok(SpindleError.is(err, "ERR_CONFIG_INVALID"), String(err));
      assert.match(err.message, want);
      return true;
    }, JSON.stringify(input));
  }
  assert.throws(() => generateBootstrap({ role: "gateway", upstream: "x", listen: "y", authz: "ecds" }), (err: SpindleError) => {
    assert.equal((err.details["problems"] as string[]).length, 4, err.message);
    return true;
  });
});
