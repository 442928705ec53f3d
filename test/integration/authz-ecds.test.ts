// docs/authz.md, "Delivery (ECDS)": the agent watches a policy file and serves the compiled RBAC
// filters over ECDS on its socket. Driven by @grpc/grpc-js as Envoy drives ECDS (one filter name
// per stream).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { TypedExtensionConfigSchema } from "../../src/gen/envoy/config/core/v3/extension_pb.js";
import { RBAC_Action } from "../../src/gen/envoy/config/rbac/v3/rbac_pb.js";
import { RBACSchema, type RBAC } from "../../src/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { DiscoveryRequestSchema, type DiscoveryRequest, type DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ExtensionConfigDiscoveryService } from "../../src/gen/envoy/service/extension/v3/config_discovery_pb.js";
import { grpcServiceDefinition } from "../../src/transport/grpc-service.js";
import { createLogger } from "../../src/common/logger.js";
import { TYPED_EXTENSION_CONFIG_TYPE_URL } from "../../src/sds/type-urls.js";
import { createPolicySource, type PolicySource } from "../../src/agent/authz/policy-source.js";
import { FakeSecretSource, createTestPki, envoyNode, eventually, openStream, startTestAgent, type TestAgent } from "./sds-fixtures.js";

const SERVICE = "spiffe://example.org/web";
const policyText = (...callers: string[]) =>
  `services:\n  ${SERVICE}:\n    allow:\n      - from: [${callers.join(", ")}]\n        methods: [GET]\n  payments-listener:\n    allow: []\n`;

const dir = mkdtempSync(join(tmpdir(), "spindle-authz-ecds-"));
const policyPath = join(dir, "policy.yaml");
const sourceLog: Record<string, unknown>[] = [];
let source: PolicySource;
let agent: TestAgent;
let client: grpc.Client;
const EcdsClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(ExtensionConfigDiscoveryService), "ExtensionConfigDiscoveryService");

before(async () => {
  writeFileSync(policyPath, policyText("spiffe://example.org/frontend"));
  source = createPolicySource({
    path: policyPath,
    pollIntervalMs: 50,
    serviceFor: () => SERVICE,
    logger: createLogger({ level: "debug", destination: { write: (l: string) => void sourceLog.push(JSON.parse(l) as Record<string, unknown>) } }),
  });
  await source.start();
  agent = await startTestAgent(new FakeSecretSource(createTestPki()), { extensions: source });
  client = new EcdsClient(`unix:${agent.socketPath}`, grpc.credentials.createInsecure());
});
after(async () => {
  client.close();
  source.close();
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

const request = (init: MessageInitShape<typeof DiscoveryRequestSchema>) => create(DiscoveryRequestSchema, { typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL, ...init });

function rbacOf(res: DiscoveryResponse, name: string): RBAC {
  assert.equal(res.typeUrl, TYPED_EXTENSION_CONFIG_TYPE_URL);
  assert.equal(res.resources.length, 1);
  const config = fromBinary(TypedExtensionConfigSchema, (res.resources[0] as Any).value);
  assert.equal(config.name, name);
  assert.equal(config.typedConfig?.typeUrl, "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC");
  return anyUnpack(config.typedConfig!, RBACSchema)!;
}

const exactPrincipals = (rbac: RBAC): string[] =>
  Object.values(rbac.rules!.policies).flatMap((p) =>
    p.principals.map((pr) => {
      assert.equal(pr.identifier.case, "authenticated");
      return String((pr.identifier.value as { principalName: { matchPattern: { value: unknown } } }).principalName.matchPattern.value);
    }),
  );

test("initial config, a policy edit pushes a new version, an invalid edit pushes nothing and is logged", async () => {
  const s = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  s.send(request({ node: envoyNode({ id: "web-sidecar" }), resourceNames: ["spindle.authz.allow"] }));
  const first = await s.next();
  const rbac1 = rbacOf(first, "spindle.authz.allow");
  assert.equal(rbac1.rules!.action, RBAC_Action.ALLOW);
  assert.deepEqual(exactPrincipals(rbac1), ["spiffe://example.org/frontend"]);
  s.send(request({ versionInfo: first.versionInfo, responseNonce: first.nonce, resourceNames: ["spindle.authz.allow"] }));

  // Edit by atomic rename, as editors and config management do.
  writeFileSync(`${policyPath}.tmp`, policyText("spiffe://example.org/admin-console"));
  renameSync(`${policyPath}.tmp`, policyPath);
  const second = await s.next(5000);
  assert.notEqual(second.versionInfo, first.versionInfo);
  assert.deepEqual(exactPrincipals(rbacOf(second, "spindle.authz.allow")), ["spiffe://example.org/admin-console"]);
  s.send(request({ versionInfo: second.versionInfo, responseNonce: second.nonce, resourceNames: ["spindle.authz.allow"] }));

  const generation = source.generation;
  writeFileSync(policyPath, `services:\n  ${SERVICE}:\n    allow:\n      - from: [not-a-spiffe-id]\n        methods: [get]\n`);
  await waitFor(() => sourceLog.some((l) => l.msg === "policy edit rejected; Envoys keep the last good policy"));
  assert.ok(await s.quiet(300), "an invalid edit pushes nothing");
  assert.equal(source.generation, generation);
  const rejected = sourceLog.find((l) => l.msg === "policy edit rejected; Envoys keep the last good policy")!;
  assert.equal(rejected.level, "error");
  assert.ok((rejected.problems as string[]).some((p) => p.includes("policy.yaml:4:")), "problems carry file:line");

  // The last good policy is still what a new stream gets.
  const again = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  again.send(request({ node: envoyNode({ id: "web-sidecar-2" }), resourceNames: ["spindle.authz.allow"] }));
  assert.deepEqual(exactPrincipals(rbacOf(await again.next(), "spindle.authz.allow")), ["spiffe://example.org/admin-console"]);
  again.close();
  s.close();
});

test("named services, the DENY filter, and fail-closed answers for services without a policy", async () => {
  const deny = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  deny.send(request({ node: envoyNode(), resourceNames: ["spindle.authz.deny"] }));
  const d = rbacOf(await deny.next(), "spindle.authz.deny");
  assert.equal(d.rules!.action, RBAC_Action.DENY);
  deny.close();

  const named = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  named.send(request({ node: envoyNode(), resourceNames: ["spindle.authz.allow/payments-listener"] }));
  const n = rbacOf(await named.next(), "spindle.authz.allow/payments-listener");
  assert.equal(n.rules!.action, RBAC_Action.ALLOW);
  assert.deepEqual(Object.keys(n.rules!.policies), [], "empty allow-list is an explicit deny-all");
  named.close();

  const missing = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  missing.send(request({ node: envoyNode(), resourceNames: ["spindle.authz.allow/spiffe://example.org/nobody"] }));
  const m = rbacOf(await missing.next(), "spindle.authz.allow/spiffe://example.org/nobody");
  assert.equal(m.rules!.action, RBAC_Action.ALLOW);
  assert.deepEqual(Object.keys(m.rules!.policies), []);
  missing.close();

  const unknown = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  unknown.send(request({ node: envoyNode(), resourceNames: ["some.other.filter"] }));
  // Not a name this agent serves: the stream stays open and sends nothing (Envoy keeps the
  // filter's fail-closed default_config); the agent logs it.
  const line = await eventually(() => agent.logLines.find((l) => l.code === "ERR_XDS_RESOURCE_NOT_FOUND" && String(l.err).includes("some.other.filter")));
  assert.ok(Array.isArray(line.selectors));
  assert.ok(await unknown.quiet(200));
  assert.equal(await Promise.race([unknown.status.then(() => "ended"), new Promise((r) => setTimeout(() => r("open"), 10))]), "open");
  unknown.close();
});

test("a policy that is invalid at start is refused with its problems", async () => {
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "services:\n  spiffe://example.org/x:\n    allow:\n      - from: [nope]\n");
  const s = createPolicySource({ path: bad, serviceFor: () => undefined, logger: createLogger({ level: "silent" }) });
  await assert.rejects(s.start(), /bad\.yaml:4:/);
  s.close();
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
