import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { parse } from "yaml";
import { BootstrapSchema } from "../gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import { RBACSchema as HttpRbacSchema } from "../gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { HttpConnectionManagerSchema } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { UpstreamTlsContextSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { HttpProtocolOptionsSchema } from "../gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import { GENERATED_FILES } from "./registry.js";
import { decodeEnvoyConfig, envoyRegistry } from "./schema.js";
import type { EnvoyConfigProblem } from "./schema.js";
import { SpindleError } from "../common/errors.js";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

// A listener with HCM + RBAC + router, and a cluster with an SDS-backed TLS transport socket and
// upstream HTTP protocol options: every Any in it must resolve.
const BOOTSTRAP_YAML = `
node: { id: web-1, cluster: web }
static_resources:
  listeners:
  - name: inbound
    address:
      socket_address: { address: 0.0.0.0, port_value: 8443 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: inbound
          stream_idle_timeout: 300s
          route_config:
            virtual_hosts:
            - name: app
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: app, timeout: 15s }
          http_filters:
          - name: envoy.filters.http.health_check
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck
              pass_through_mode: false
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  callers:
                    permissions: [{ any: true }]
                    principals:
                    - authenticated: { principal_name: { exact: "spiffe://example.org/api" } }
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: api
    type: STRICT_DNS
    connect_timeout: 0.25s
    load_assignment:
      cluster_name: api
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: api, port_value: 8443 } } }
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context:
          tls_certificate_sds_secret_configs:
          - name: spiffe://example.org/web
            sds_config:
              resource_api_version: V3
              api_config_source:
                api_type: GRPC
                transport_api_version: V3
                grpc_services: [{ envoy_grpc: { cluster_name: spindle_agent } }]
          combined_validation_context:
            default_validation_context:
              match_typed_subject_alt_names: [{ san_type: URI, matcher: { exact: "spiffe://example.org/api" } }]
            validation_context_sds_secret_config:
              name: ROOTCA
              sds_config: { resource_api_version: V3, ads: {} }
`;

const RBAC_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[1].typed_config.rules";

function rejects(run: () => unknown): { err: SpindleError; problems: EnvoyConfigProblem[] } {
  try {
    run();
  } catch (err) {
    assert.ok(SpindleError.is(err, "ERR_ENVOY_CONFIG_INVALID"), `expected ERR_ENVOY_CONFIG_INVALID, got ${String(err)}`);
    return { err, problems: err.details["problems"] as EnvoyConfigProblem[] };
  }
  assert.fail("expected the config to be rejected");
}

test("decodes a Bootstrap YAML with typed_config Any values through the generated types", () => {
  const registry = envoyRegistry();
  const b = decodeEnvoyConfig(BootstrapSchema, BOOTSTRAP_YAML, { registry });
  const listener = b.staticResources?.listeners[0];
  assert.equal(listener?.address?.address.case, "socketAddress");
  const hcmAny = listener?.filterChains[0]?.filters[0]?.configType;
  assert.equal(hcmAny?.case, "typedConfig");
  const hcm = anyUnpack(hcmAny.value, HttpConnectionManagerSchema);
  assert.equal(hcm?.streamIdleTimeout?.seconds, 300n);
  assert.deepEqual(hcm?.httpFilters.map((f) => f.name), ["envoy.filters.http.health_check", "envoy.filters.http.rbac", "envoy.filters.http.router"]);
  const rbacAny = hcm?.httpFilters[1]?.configType;
  assert.equal(rbacAny?.case, "typedConfig");
  const rbac = anyUnpack(rbacAny.value, HttpRbacSchema);
  assert.deepEqual(Object.keys(rbac?.rules?.policies ?? {}), ["callers"]);

  const cluster = b.staticResources?.clusters[0];
  assert.equal(cluster?.connectTimeout?.nanos, 250_000_000);
  const opts = cluster?.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
  assert.equal(anyUnpack(opts!, HttpProtocolOptionsSchema)?.upstreamProtocolOptions.case, "explicitHttpConfig");
  const ts = cluster?.transportSocket?.configType;
  assert.equal(ts?.case, "typedConfig");
  const tls = anyUnpack(ts.value, UpstreamTlsContextSchema);
  assert.equal(tls?.commonTlsContext?.tlsCertificateSdsSecretConfigs[0]?.name, "spiffe://example.org/web");
  const combined = tls?.commonTlsContext?.validationContextType;
  assert.equal(combined?.case, "combinedValidationContext");
  assert.equal(combined.value.validationContextSdsSecretConfig?.name, "ROOTCA");
});

test("a misspelled field is rejected with its full path, line and a suggestion", () => {
  const { err, problems } = rejects(() => decodeEnvoyConfig("envoy.config.bootstrap.v3.Bootstrap", BOOTSTRAP_YAML.replace("policies:", "policiez:"), { source: "envoy.yaml" }));
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.path, `${RBAC_PATH}.policiez`);
  assert.equal(problems[0]?.line, BOOTSTRAP_YAML.split("\n").findIndex((l) => l.includes("policies:")) + 1);
  assert.ok(err.message.includes(`${RBAC_PATH}.policiez: unknown field "policiez" in envoy.config.rbac.v3.RBAC (did you mean "policies"?)`), err.message);
  assert.ok(err.message.startsWith("envoy.yaml is not a valid envoy.config.bootstrap.v3.Bootstrap"), err.message);
});

test("an unknown @type is rejected at that Any", () => {
  const bad = BOOTSTRAP_YAML.replace("filters.http.router.v3.Router", "filters.http.routr.v3.Router");
  const { err, problems } = rejects(() => decodeEnvoyConfig("envoy.config.bootstrap.v3.Bootstrap", bad));
  assert.deepEqual(problems.map((p) => p.path), ["static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[2].typed_config.@type"]);
  assert.match(err.message, /unresolved @type "type\.googleapis\.com\/envoy\.extensions\.filters\.http\.routr\.v3\.Router"/);
  const missing = rejects(() => decodeEnvoyConfig("envoy.config.core.v3.TypedExtensionConfig", { name: "x", typed_config: { rules: {} } }));
  assert.equal(missing.problems[0]?.path, "typed_config.@type");
  const empty = rejects(() => decodeEnvoyConfig("envoy.config.core.v3.TypedExtensionConfig", { name: "x", typed_config: {} }));
  assert.match(empty.err.message, /typed_config\.@type: missing "@type"/);
});

test("wrong value types are all reported, each at its path", () => {
  const bad = BOOTSTRAP_YAML.replace("port_value: 8443 }\n    filter_chains", 'port_value: "http" }\n    filter_chains')
    .replace("timeout: 15s", "timeout: 15")
    .replace("http_filters:", "http_filters: 7\n          unused_http_filters:")
    .replace("connect_timeout: 0.25s", "connect_timeout: [1]");
  const { problems } = rejects(() => decodeEnvoyConfig("envoy.config.bootstrap.v3.Bootstrap", bad));
  const byPath = new Map(problems.map((p) => [p.path, p.message]));
  const hcm = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
  assert.match(byPath.get("static_resources.listeners[0].address.socket_address.port_value") ?? "", /expected number \(uint32\), got "http"/);
  assert.match(byPath.get(`${hcm}.route_config.virtual_hosts[0].routes[0].route.timeout`) ?? "", /Duration.*"15s".*got number 15/);
  assert.match(byPath.get(`${hcm}.http_filters`) ?? "", /expected a list, got number 7/);
  assert.match(byPath.get(`${hcm}.unused_http_filters`) ?? "", /unknown field/);
  assert.match(byPath.get("static_resources.clusters[0].connect_timeout") ?? "", /Duration/);
  assert.equal(problems.length, 5, [...byPath.keys()].join("\n"));
});

test("every object in a valid config rejects an extra key, reported at exactly that key", () => {
  const doc = parse(BOOTSTRAP_YAML) as JsonObject;
  const mapFields = new Set(["typed_extension_protocol_options", "policies"]);
  const objects: (string | number)[][] = [];
  const visit = (v: JsonValue, path: (string | number)[]) => {
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, [...path, i]));
    else if (v !== null && typeof v === "object") {
      if (!mapFields.has(String(path.at(-1)))) objects.push(path);
      for (const [k, x] of Object.entries(v)) visit(x, [...path, k]);
    }
  };
  visit(doc, []);
  assert.ok(objects.length > 40, `only ${objects.length} objects`);
  const registry = envoyRegistry();
  for (const path of objects) {
    const copy = structuredClone(doc);
    let node: JsonValue = copy;
    for (const seg of path) node = (node as Record<string | number, JsonValue>)[seg] as JsonValue;
    (node as JsonObject)["zz_extra"] = 1;
    const { problems } = rejects(() => decodeEnvoyConfig(BootstrapSchema, copy, { registry }));
    const full = [...path, "zz_extra"];
    const want = full.map((s, i) => {
      if (typeof s === "number") return `[${s}]`;
      if (mapFields.has(String(full[i - 1]))) return `[${JSON.stringify(s)}]`;
      return i === 0 ? s : `.${s}`;
    }).join("");
    assert.deepEqual(problems.map((p) => p.path), [want]);
  }
});

test("reads JSON, accepts JSON (camelCase) names, rejects a field given under both names", () => {
  const json = JSON.stringify({ node: { id: "a" }, staticResources: { clusters: [{ name: "c", connectTimeout: "1s" }] } });
  const b = decodeEnvoyConfig(BootstrapSchema, json, { format: "json" });
  assert.equal(b.staticResources?.clusters[0]?.connectTimeout?.seconds, 1n);
  const twice = rejects(() => decodeEnvoyConfig(BootstrapSchema, { static_resources: {}, staticResources: {} }));
  assert.match(twice.err.message, /static_resources is set twice/);
  const syntax = rejects(() => decodeEnvoyConfig(BootstrapSchema, '{"node": ', { format: "json", source: "b.json" }));
  assert.match(syntax.err.message, /^b\.json: not valid JSON/);
  const dup = rejects(() => decodeEnvoyConfig(BootstrapSchema, '{"node": {}, "node": {}}', { format: "json", source: "d.json" }));
  assert.match(dup.err.message, /^d\.json:1:\d+: not valid JSON: .*unique/);
  const empty = rejects(() => decodeEnvoyConfig(BootstrapSchema, "# nothing\n", { source: "e.yaml" }));
  assert.equal(empty.err.message, "e.yaml: the document is empty");
  const yamlSyntax = rejects(() => decodeEnvoyConfig(BootstrapSchema, "node:\n  id: [a\n", { source: "b.yaml" }));
  assert.match(yamlSyntax.err.message, /^b\.yaml:\d+:\d+: not valid YAML/);
});

test("decodes other named Envoy messages: RBAC, Secret, TypedExtensionConfig (by name or type URL)", () => {
  const rbac = "action: DENY\npolicies:\n  block: { permissions: [{ any: true }], principals: [{ any: true }] }\n";
  decodeEnvoyConfig("envoy.config.rbac.v3.RBAC", rbac);
  decodeEnvoyConfig("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", {
    name: "ROOTCA",
    validation_context: {
      custom_validator_config: {
        name: "envoy.tls.cert_validator.spiffe",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig",
          trust_domains: [{ name: "example.org", trust_bundle: { inline_bytes: "LS0tLS1CRUdJTg==" } }],
        },
      },
    },
  });
  decodeEnvoyConfig("envoy.config.core.v3.TypedExtensionConfig", {
    name: "spindle.authz.allow",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", rules: { action: "ALLOW" } },
  });
  const oneof = rejects(() => decodeEnvoyConfig("envoy.config.rbac.v3.Permission", { any: true, destination_port: 443 }));
  assert.match(oneof.err.message, /destination_port: "destination_port" and "any" are both set.*oneof rule/);
  const action = rejects(() => decodeEnvoyConfig("envoy.config.rbac.v3.RBAC", "action: PERMIT\n"));
  assert.match(action.err.message, /action: invalid value "PERMIT" for enum envoy\.config\.rbac\.v3\.RBAC\.Action \(one of ALLOW, DENY, LOG\) \(line 1, column 1\)/);
  const key = rejects(() => decodeEnvoyConfig("envoy.config.rbac.v3.RBAC", { policies: { p: { permisions: [] } } }));
  assert.equal(key.problems[0]?.path, 'policies["p"].permisions');
  assert.throws(() => decodeEnvoyConfig("envoy.no.Such", {}), (e) => SpindleError.is(e, "ERR_INVALID_ARGUMENT"));
});

test("the registry holds every file generated from third-party protos and resolves well-known types for Any", () => {
  const genDir = fileURLToPath(new URL("../gen", import.meta.url));
  const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
  const protoDir = fileURLToPath(new URL("../../proto", import.meta.url));
  const own = new Set(walk(protoDir).filter((f) => f.endsWith(".proto")).map((f) => relative(protoDir, f).replace(/\.proto$/, "")));
  const onDisk = walk(genDir).filter((f) => f.endsWith("_pb.ts")).map((f) => relative(genDir, f).replace(/_pb\.ts$/, ""));
  const thirdParty = onDisk.filter((f) => !own.has(f)).sort();
  assert.ok(thirdParty.includes("envoy/config/bootstrap/v3/bootstrap"));
  assert.deepEqual(GENERATED_FILES.map((f) => f.name).sort(), thirdParty, "src/gen/thirdparty_files.ts (written by npm run generate) must list every third-party file under src/gen");
  const registry = envoyRegistry();
  for (const file of GENERATED_FILES) for (const m of file.messages) assert.ok(registry.getMessage(m.typeName), m.typeName);
  decodeEnvoyConfig("envoy.config.core.v3.TypedExtensionConfig", {
    name: "d",
    typed_config: { "@type": "type.googleapis.com/google.protobuf.Duration", value: "2s" },
  }, { registry });
});
