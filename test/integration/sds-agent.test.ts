// SDS and ECDS through the REAL agent (createAgent against the in-process agent API server of the
// agentapi harness: CA on a fake clock, x509pop node attestation, entry sync), driven over its
// public socket by @grpc/grpc-js clients behaving as Envoy (one name per stream, node only on the
// first request):
// - docs/sds.md, "Resource names": SDS alias names taken from the agent config's `sds.*` keys
//   resolve, and the built-in names are then unknown (logged naming them, the stream kept open);
// - docs/authz.md, "Delivery (ECDS)": the agent watches its policy file; two ECDS clients on three
//   streams get the compiled RBAC, every stream gets the edit, an invalid edit pushes nothing for
//   1.5 s, is logged and the last good policy is what a new stream gets.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { nodeCertificate, startHarness, type Harness } from "../support/agentapi-harness.js";
import { createAgent, type Agent } from "../../src/agent/agent.js";
import * as x509pop from "../../src/agent/nodeattestors/x509pop/index.js";
import { loadAgentConfig } from "../../src/cli/config/agent-config.js";
import { grpcServiceDefinition } from "../../src/transport/grpc-service.js";
import { createLogger } from "../../src/common/logger.js";
import { TypedExtensionConfigSchema } from "../../src/gen/envoy/config/core/v3/extension_pb.js";
import { RBAC_Action } from "../../src/gen/envoy/config/rbac/v3/rbac_pb.js";
import { RBACSchema, type RBAC } from "../../src/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { DiscoveryRequestSchema, type DiscoveryRequest, type DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ExtensionConfigDiscoveryService } from "../../src/gen/envoy/service/extension/v3/config_discovery_pb.js";
import { SecretDiscoveryService } from "../../src/gen/envoy/service/secret/v3/sds_pb.js";
import { TYPED_EXTENSION_CONFIG_TYPE_URL } from "../../src/sds/type-urls.js";
import { createSdsClient, decodeSecret, envoyNode, openStream, sotwRequest, subscribeSotw, type SotwStream } from "./sds-fixtures.js";
import { checkTlsSecret, fingerprint, validationContextDomains } from "./sds-secret-checks.js";

const TD = "example.org";
const WEB = `spiffe://${TD}/web`;
const uid = process.getuid!();
const SELECTORS = [`unix:uid:${uid}`];
const dir = mkdtempSync(join(tmpdir(), "spindle-sds-agent-"));
chmodSync(dir, 0o755);
const socketPath = join(dir, "public", "api.sock");
const policyPath = join(dir, "policy.yaml");
const logLines: Record<string, unknown>[] = [];
let h: Harness;
let agent: Agent;
let sds: grpc.Client;
const EcdsClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(ExtensionConfigDiscoveryService), "ExtensionConfigDiscoveryService");
const ecdsClients: grpc.Client[] = [];

const policyText = (denied: string, allowed: string) =>
  [`services:`, `  ${WEB}:`, `    deny:`, `      - from: [spiffe://${TD}/${denied}]`, `    allow:`, `      - from: [spiffe://${TD}/${allowed}]`, `        methods: [GET]`, ``].join("\n");

/** Replaces the policy file by rename, as editors and config management do. */
function writePolicy(text: string): void {
  writeFileSync(`${policyPath}.tmp`, text);
  renameSync(`${policyPath}.tmp`, policyPath);
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, step?: () => unknown, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    step?.();
    await new Promise((r) => setTimeout(r, 50));
  }
}

function fetchSecrets(names: string[]): Promise<DiscoveryResponse> {
  const method = grpcServiceDefinition(SecretDiscoveryService).fetchSecrets!;
  return new Promise((resolve, reject) =>
    sds.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, sotwRequest({ node: envoyNode(), resourceNames: names }), (err, res) =>
      err ? reject(err) : resolve(res as DiscoveryResponse),
    ),
  );
}

before(async () => {
  h = await startHarness();
  const cert = nodeCertificate(h.nodeCa, "node-1");
  writePolicy(policyText("legacy", "frontend"));
  // The sds block goes through the config loader, and its result into createAgent, as
  // `spindle agent run` does; the node attestor is x509pop against the harness instead.
  writeFileSync(
    join(dir, "agent.yaml"),
    [
      `trust_domain: ${TD}`,
      `server_addresses: [127.0.0.1:${h.server.address.port}]`,
      "insecure_bootstrap: true",
      "node_attestor: {join_token: {token: unused-here-x509pop-is-used}}",
      "sds: {default_svid_name: my-default, default_bundle_name: my-root, default_all_bundles_name: my-all}",
    ].join("\n"),
  );
  const config = loadAgentConfig({ configFile: join(dir, "agent.yaml"), flags: {}, env: {}, cwd: dir });
  agent = createAgent({
    trustDomain: config.trustDomain,
    serverAddresses: config.serverAddresses,
    socketPath,
    dataDir: join(dir, "agent"),
    nodeAttestor: x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey }),
    trustBundleDer: h.ca.bundleContents().x509Authorities,
    workloadAttestors: [{ name: "unix", attest: async () => [{ type: "unix", value: `uid:${uid}` }] }],
    authzPolicyPath: policyPath,
    syncIntervalMs: 1000,
    sdsAliases: config.sds,
    spiffeValidator: config.sds.spiffeValidator,
    logger: createLogger({ level: "debug", destination: { write: (l: string) => void logLines.push(JSON.parse(l) as Record<string, unknown>) } }),
    clock: h.clock,
  });
  await agent.start();
  await agent.whenReady();
  h.entries.put({ spiffeId: WEB, parentId: agent.status().agentId!, selectors: [{ type: "unix", value: `uid:${uid}` }] });
  sds = createSdsClient(socketPath);
  // The entry reaches the agent on a sync round; the fake clock drives the rounds.
  await until(
    "the entry to be served over SDS",
    () => fetchSecrets([WEB]).then((r) => r, () => undefined),
    () => h.clock.advance(1000),
  );
});

after(async () => {
  sds?.close();
  ecdsClients.forEach((c) => c.close());
  await agent?.stop();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("SDS: the alias names configured under sds.* resolve; the built-in names are then unknown", async () => {
  const roots = h.ca.bundleContents().x509Authorities;
  const names = ["my-default", WEB, "my-root", "my-all"];
  const streams = names.map((n) => subscribeSotw(sds, n));
  const [def, web, root, all] = (await Promise.all(streams.map((s) => s.next()))).map((r) => {
    assert.equal(r.resources.length, 1);
    return decodeSecret(r.resources[0]!);
  }) as [ReturnType<typeof decodeSecret>, ReturnType<typeof decodeSecret>, ReturnType<typeof decodeSecret>, ReturnType<typeof decodeSecret>];
  streams.forEach((s) => s.close());
  const now = h.clock.now();
  checkTlsSecret(def!, { name: "my-default", spiffeId: WEB, roots, now });
  checkTlsSecret(web!, { name: WEB, spiffeId: WEB, roots, now });
  const own = new Map([[TD, roots.map(fingerprint)]]);
  assert.deepEqual(validationContextDomains(root!, "my-root"), own);
  assert.deepEqual(validationContextDomains(all!, "my-all"), own, "no federation here: own trust domain only");

  for (const builtIn of ["default", "ROOTCA", "ALL"]) {
    const stream = subscribeSotw(sds, builtIn);
    const line = await until(`the log line for ${builtIn}`, () =>
      logLines.find((l) => l.code === "ERR_XDS_RESOURCE_NOT_FOUND" && String(l.err).includes(`"${builtIn}"`)),
    );
    assert.match(String(line.err), new RegExp(`"${builtIn}" is neither a SPIFFE ID nor one of my-default, my-root, my-all`));
    assert.deepEqual(line.selectors, SELECTORS, "logged with the caller's selectors");
    assert.ok(await stream.quiet(100), `nothing is served as ${builtIn}`);
    assert.equal(await Promise.race([stream.status.then(() => "ended"), new Promise((r) => setTimeout(() => r("open"), 10))]), "open", "the stream stays open");
    stream.close();
  }
  await assert.rejects(fetchSecrets(["my-root", "ROOTCA"]), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && err.details.includes('"ROOTCA"'));
});

const ecdsRequest = (init: MessageInitShape<typeof DiscoveryRequestSchema>) => create(DiscoveryRequestSchema, { typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL, ...init });

/** Opens StreamExtensionConfigs for one filter name on a client of its own channel or a shared one. */
function subscribeEcds(client: grpc.Client, name: string, nodeId: string): SotwStream {
  const s = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamExtensionConfigs");
  s.send(ecdsRequest({ node: envoyNode({ id: nodeId }), resourceNames: [name] }));
  return s;
}

/** Decodes the one TypedExtensionConfig of a response as an HTTP RBAC filter named `name`. */
function rbacOf(res: DiscoveryResponse, name: string): RBAC {
  assert.equal(res.typeUrl, TYPED_EXTENSION_CONFIG_TYPE_URL);
  assert.equal(res.resources.length, 1);
  assert.equal(res.resources[0]!.typeUrl, TYPED_EXTENSION_CONFIG_TYPE_URL);
  const config = fromBinary(TypedExtensionConfigSchema, res.resources[0]!.value);
  assert.equal(config.name, name);
  assert.equal(config.typedConfig?.typeUrl, "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC");
  const rbac = anyUnpack(config.typedConfig, RBACSchema);
  assert.ok(rbac?.rules !== undefined, "rules present (an absent rules enforces nothing)");
  return rbac;
}

/** The action and the exact principal names of an RBAC filter's policies. */
function summary(rbac: RBAC): { action: RBAC_Action; principals: string[] } {
  const principals = Object.values(rbac.rules!.policies).flatMap((p) =>
    p.principals.map((pr) => {
      assert.equal(pr.identifier.case, "authenticated");
      const match = pr.identifier.value.principalName?.matchPattern;
      assert.equal(match?.case, "exact");
      return match.value;
    }),
  );
  return { action: rbac.rules!.action, principals };
}

const ack = (s: SotwStream, res: DiscoveryResponse, name: string) => s.send(ecdsRequest({ versionInfo: res.versionInfo, responseNonce: res.nonce, resourceNames: [name] }));

test("ECDS: two clients get the compiled RBAC; an edit reaches every stream; an invalid edit pushes nothing, is logged, and the last good policy stays", async () => {
  const newClient = (): grpc.Client => {
    const c = new EcdsClient(`unix:${socketPath}`, grpc.credentials.createInsecure());
    ecdsClients.push(c);
    return c;
  };
  const [c1, c2, c3] = [newClient(), newClient(), newClient()];
  const subs = [
    { stream: subscribeEcds(c1, "spindle.authz.allow", "envoy-a"), name: "spindle.authz.allow" },
    { stream: subscribeEcds(c1, "spindle.authz.deny", "envoy-a"), name: "spindle.authz.deny" },
    { stream: subscribeEcds(c2, "spindle.authz.allow", "envoy-b"), name: "spindle.authz.allow" },
  ];
  const expected = (deny: string, allow: string) => [
    { action: RBAC_Action.ALLOW, principals: [`spiffe://${TD}/${allow}`] },
    { action: RBAC_Action.DENY, principals: [`spiffe://${TD}/${deny}`] },
    { action: RBAC_Action.ALLOW, principals: [`spiffe://${TD}/${allow}`] },
  ];
  const firsts = await Promise.all(subs.map((s) => s.stream.next()));
  assert.deepEqual(firsts.map((r, i) => summary(rbacOf(r, subs[i]!.name))), expected("legacy", "frontend"));
  firsts.forEach((r, i) => ack(subs[i]!.stream, r, subs[i]!.name));
  assert.ok((await Promise.all(subs.map((s) => s.stream.quiet(200)))).every(Boolean), "ACKs are not answered");

  writePolicy(policyText("legacy-batch", "admin-console"));
  const seconds = await Promise.all(subs.map((s) => s.stream.next(10_000)));
  seconds.forEach((r, i) => assert.notEqual(r.versionInfo, firsts[i]!.versionInfo, `${subs[i]!.name} on stream ${i} has a new version`));
  assert.deepEqual(seconds.map((r, i) => summary(rbacOf(r, subs[i]!.name))), expected("legacy-batch", "admin-console"));
  seconds.forEach((r, i) => ack(subs[i]!.stream, r, subs[i]!.name));

  writePolicy(`services:\n  ${WEB}:\n    allow:\n      - from: [not-a-spiffe-id]\n        methods: [get]\n`);
  const rejected = await until("the rejected edit to be logged", () => logLines.find((l) => l.msg === "policy edit rejected; Envoys keep the last good policy"));
  assert.equal(rejected.level, "error");
  assert.equal(rejected.policy, policyPath);
  assert.ok((rejected.problems as string[]).some((p) => p.startsWith(`${policyPath}:4:`)), `problems name file:line: ${JSON.stringify(rejected.problems)}`);
  const quiet = await Promise.all(subs.map((s) => s.stream.quiet(1500)));
  assert.deepEqual(quiet, [true, true, true], "an invalid edit pushes nothing to any stream");
  assert.equal(subs.reduce((n, s) => n + s.stream.received.length, 0), 6, "two responses per stream in all");

  // The last good policy is what a new stream (a third client) gets.
  const late = [subscribeEcds(c3, "spindle.authz.allow", "envoy-c"), subscribeEcds(c3, "spindle.authz.deny", "envoy-c")];
  const lateRes = await Promise.all(late.map((s) => s.next()));
  assert.deepEqual(summary(rbacOf(lateRes[0]!, "spindle.authz.allow")), expected("legacy-batch", "admin-console")[0]);
  assert.deepEqual(summary(rbacOf(lateRes[1]!, "spindle.authz.deny")), expected("legacy-batch", "admin-console")[1]);
  [...subs.map((s) => s.stream), ...late].forEach((s) => s.close());
});
