// ECDS (ExtensionConfigDiscoveryService) on the agent socket: TypedExtensionConfig resources from
// an ExtensionConfigSource through the same xDS state machines as SDS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { TypedExtensionConfigSchema, type TypedExtensionConfig } from "../../src/gen/envoy/config/core/v3/extension_pb.js";
import { RBAC_Action } from "../../src/gen/envoy/config/rbac/v3/rbac_pb.js";
import { RBACSchema } from "../../src/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ExtensionConfigDiscoveryService } from "../../src/gen/envoy/service/extension/v3/config_discovery_pb.js";
import { grpcServiceDefinition } from "../../src/transport/grpc-service.js";
import type { ExtensionConfigSource } from "../../src/sds/contracts.js";
import { TYPED_EXTENSION_CONFIG_TYPE_URL } from "../../src/sds/type-urls.js";
import { FakeSecretSource, createTestPki, envoyNode, eventually, openStream, startTestAgent, type TestAgent } from "./sds-fixtures.js";

class FakeExtensionConfigs implements ExtensionConfigSource {
  readonly configs = new Map<string, Any>();
  readonly #listeners = new Set<(names: readonly string[]) => void>();
  set(name: string, config: Any): void {
    this.configs.set(name, config);
    for (const l of this.#listeners) l([name]);
  }
  get(name: string): Any | undefined {
    return this.configs.get(name);
  }
  onChange(listener: (names: readonly string[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

const FILTER = "spindle.rbac.inbound";
const rbac = (principal: string) =>
  anyPack(
    RBACSchema,
    create(RBACSchema, {
      rules: {
        action: RBAC_Action.ALLOW,
        policies: { "allow-web": { permissions: [{ rule: { case: "any", value: true } }], principals: [{ identifier: { case: "authenticated", value: { principalName: { matchPattern: { case: "exact", value: principal } } } } }] } },
      },
    }),
  );

const extensions = new FakeExtensionConfigs();
extensions.set(FILTER, rbac("spiffe://example.org/web"));
let agent: TestAgent;
let client: grpc.Client;
const EcdsClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(ExtensionConfigDiscoveryService), "ExtensionConfigDiscoveryService");

before(async () => {
  agent = await startTestAgent(new FakeSecretSource(createTestPki()), { extensions, level: "debug" });
  client = new EcdsClient(`unix:${agent.socketPath}`, grpc.credentials.createInsecure());
});
after(async () => {
  client.close();
  await agent.close();
});

const request = (init: MessageInitShape<typeof DiscoveryRequestSchema>) => create(DiscoveryRequestSchema, { typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL, ...init });

function decodeConfig(any: Any | undefined): TypedExtensionConfig {
  assert.equal(any?.typeUrl, TYPED_EXTENSION_CONFIG_TYPE_URL);
  return fromBinary(TypedExtensionConfigSchema, any.value);
}

function principalOf(config: TypedExtensionConfig): string {
  const filter = anyUnpack(config.typedConfig!, RBACSchema)!;
  const id = filter.rules!.policies["allow-web"]!.principals[0]!.identifier;
  assert.ok(id.case === "authenticated");
  return id.value.principalName!.matchPattern.value as string;
}

test("SotW: initial config, ACK, update pushes a new version, NACK is not resent", async () => {
  const s = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  s.send(request({ node: envoyNode({ id: "ecds-envoy" }), resourceNames: [FILTER] }));
  const first = await s.next();
  assert.equal(first.typeUrl, TYPED_EXTENSION_CONFIG_TYPE_URL);
  const config = decodeConfig(first.resources[0]);
  assert.equal(config.name, FILTER);
  assert.equal(config.typedConfig!.typeUrl, "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC");
  assert.equal(principalOf(config), "spiffe://example.org/web");
  s.send(request({ versionInfo: first.versionInfo, responseNonce: first.nonce, resourceNames: [FILTER] }));
  assert.ok(await s.quiet(100));

  extensions.set(FILTER, rbac("spiffe://example.org/api"));
  const second = await s.next();
  assert.equal(second.versionInfo, "2");
  assert.equal(principalOf(decodeConfig(second.resources[0])), "spiffe://example.org/api");

  s.send(request({ responseNonce: second.nonce, resourceNames: [FILTER], errorDetail: { code: 3, message: "bad rbac" } }));
  await agent.ecds!.idle();
  extensions.set(FILTER, extensions.get(FILTER)!); // same config object again: still rejected content
  assert.ok(await s.quiet(150), "NACKed config not resent");
  await eventually(() => agent.logLines.some((l) => l.component === "ecds" && l.error === "bad rbac" && l.nodeId === "ecds-envoy"));
  assert.match(await agent.registry.metrics(), new RegExp(`spindle_xds_nacks_total\\{service="ecds",resource="${FILTER}"\\} 1`));
  extensions.set(FILTER, rbac("spiffe://example.org/db"));
  const third = await s.next();
  assert.equal(principalOf(decodeConfig(third.resources[0])), "spiffe://example.org/db");
  s.close();
});

test("Delta: subscribe and update; unknown filter names keep the stream open and are pushed when they appear; Fetch", async () => {
  const d = openStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(client, "deltaExtensionConfigs");
  d.send(create(DeltaDiscoveryRequestSchema, { typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL, node: envoyNode(), resourceNamesSubscribe: [FILTER] }));
  const first = await d.next();
  assert.equal(first.resources[0]!.name, FILTER);
  assert.equal(decodeConfig(first.resources[0]!.resource).name, FILTER);
  d.send(create(DeltaDiscoveryRequestSchema, { typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL, responseNonce: first.nonce }));
  extensions.set(FILTER, rbac("spiffe://example.org/updated"));
  const second = await d.next();
  assert.notEqual(second.resources[0]!.version, first.resources[0]!.version);
  assert.equal(principalOf(decodeConfig(second.resources[0]!.resource)), "spiffe://example.org/updated");
  d.close();

  // A filter name with no config yet: the stream stays open, nothing is sent (Envoy keeps its
  // fail-closed default_config), and the config is pushed when it appears.
  const late = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  late.send(request({ node: envoyNode(), resourceNames: ["spindle.rbac.missing"] }));
  const line = await eventually(() => agent.logLines.find((l) => l.code === "ERR_XDS_RESOURCE_NOT_FOUND" && String(l.err).includes('"spindle.rbac.missing"')));
  assert.ok(Array.isArray(line.selectors), "logged with the caller's selectors");
  assert.ok(await late.quiet(200), "no response for a name without config");
  assert.equal(await Promise.race([late.status.then(() => "ended"), new Promise((r) => setTimeout(() => r("open"), 10))]), "open");
  extensions.set("spindle.rbac.missing", rbac("spiffe://example.org/late"));
  const appeared = await late.next();
  assert.equal(principalOf(decodeConfig(appeared.resources[0]!)), "spiffe://example.org/late");
  late.close();
  const lateDelta = openStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(client, "deltaExtensionConfigs");
  lateDelta.send(create(DeltaDiscoveryRequestSchema, { typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL, node: envoyNode(), resourceNamesSubscribe: ["spindle.rbac.never"] }));
  assert.deepEqual((await lateDelta.next()).removedResources, ["spindle.rbac.never"], "Delta reports the unknown name as removed");
  lateDelta.close();

  const def = grpcServiceDefinition(ExtensionConfigDiscoveryService).fetchExtensionConfigs!;
  const res = await new Promise<DiscoveryResponse>((resolve, reject) =>
    client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request({ resourceNames: [FILTER] }), (err, r) => (err ? reject(err) : resolve(r as DiscoveryResponse))),
  );
  assert.equal(decodeConfig(res.resources[0]).name, FILTER);
});
