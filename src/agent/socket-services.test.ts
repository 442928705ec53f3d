// The agent's public socket before and after the first sync, driven the way Envoy drives SDS
// (grpc-js, StreamSecrets and FetchSecrets): before the first sync every secret answers
// UNAVAILABLE and the stream is ended, so Envoy retries; afterwards the same request is served,
// and a caller without an entry waits on an open stream until its entry syncs.
// ECDS likewise, and its per-Envoy filters follow the Envoy's identity as syncs change it. Every
// SDS call is counted by method, status and the caller's attestation outcome.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toJson } from "@bufbuild/protobuf";
import { TypedExtensionConfigSchema } from "../gen/envoy/config/core/v3/extension_pb.js";
import { RBACSchema } from "../gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { ExtensionConfigDiscoveryService } from "../gen/envoy/service/extension/v3/config_discovery_pb.js";
import { Registry } from "prom-client";
import { grpcServiceDefinition } from "../transport/grpc-service.js";
import { createSilentLogger } from "../common/logger.js";
import { SecretSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { DiscoveryRequestSchema, type DiscoveryRequest, type DiscoveryResponse } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { SecretDiscoveryService } from "../gen/envoy/service/secret/v3/sds_pb.js";
import { createXdsMetrics } from "../sds/index.js";
import { SECRET_TYPE_URL, TYPED_EXTENSION_CONFIG_TYPE_URL } from "../sds/type-urls.js";
import { createTestServer } from "../../test/support/fake-agent-server.js";
import { createRpcMetricsInterceptor } from "./rpc-metrics.js";
import { startAgentSocket } from "./socket-services.js";
import { createAgentHarness, type AgentHarness } from "../../test/support/sync-harness.js";
import { createFixedAttestor } from "../../test/support/fake-identity-source.js";

const WEB = "spiffe://example.org/web";

interface SdsClient extends grpc.Client {
  streamSecrets(): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  fetchSecrets(req: DiscoveryRequest, cb: (err: grpc.ServiceError | null, res?: DiscoveryResponse) => void): void;
}

const request = (name: string) => create(DiscoveryRequestSchema, { typeUrl: SECRET_TYPE_URL, node: { id: "web-sidecar", cluster: "web" }, resourceNames: [name] });

/** Opens a StreamSecrets stream for `name`; resolves with the first response or the status that ended the stream. */
function streamOnce(client: SdsClient, name: string): Promise<{ response?: DiscoveryResponse; status?: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const call = client.streamSecrets();
    let response: DiscoveryResponse | undefined;
    call.on("data", (r: DiscoveryResponse) => {
      response = r;
      call.cancel();
    });
    call.on("error", () => undefined);
    call.on("status", (status: grpc.StatusObject) => resolve(response !== undefined ? { response } : { status }));
    call.write(request(name));
  });
}

/** The agent socket over the harness's cache; every caller is attested with `selectors`. */
function startSocket(h: AgentHarness, socketPath: string, selectors: string[], authzPolicyPath?: string, rpcObserver?: grpc.ServerInterceptor): Promise<() => Promise<void>> {
  return startAgentSocket({
    socketPath,
    cache: h.cache,
    attestor: createFixedAttestor(selectors),
    xdsMetrics: createXdsMetrics({ registry: new Registry(), clock: h.server.clock }),
    logger: createSilentLogger(),
    clock: h.server.clock,
    ...(authzPolicyPath === undefined ? {} : { authzPolicyPath }),
    ...(rpcObserver === undefined ? {} : { rpcObserver }),
  });
}

test("SDS before the first sync answers UNAVAILABLE and ends the stream (Envoy retries); after it, the same request is served", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-agent-socket-"));
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  const h = createAgentHarness(server);
  const socketPath = join(dir, "api.sock");
  const registry = new Registry();
  const observer = createRpcMetricsInterceptor({ registry });
  const stop = await startSocket(h, socketPath, ["unix:uid:1000"], undefined, observer);
  const Sds = grpc.makeGenericClientConstructor(grpcServiceDefinition(SecretDiscoveryService), "Sds");
  const client = new Sds(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as SdsClient;
  t.after(async () => {
    client.close();
    await h.loop.stop();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  assert.equal(h.cache.ready, false);
  for (const name of ["default", WEB, "ROOTCA", "ALL", "spiffe://example.org"]) {
    const before = await streamOnce(client, name);
    assert.equal(before.response, undefined, `${name}: no secret before the first sync`);
    assert.equal(before.status?.code, grpc.status.UNAVAILABLE, `${name}: ${before.status?.details}`);
    assert.match(before.status!.details, /first sync/);
  }
  const fetched = await new Promise<grpc.ServiceError | null>((resolve) => client.fetchSecrets(request("default"), (err) => resolve(err)));
  assert.equal(fetched?.code, grpc.status.UNAVAILABLE, "FetchSecrets too");

  h.loop.start();
  await h.settle();
  assert.equal(h.cache.ready, true);
  const after = await streamOnce(client, "default");
  assert.equal(after.status, undefined, after.status?.details);
  const secret = fromBinary(SecretSchema, after.response!.resources[0]!.value);
  assert.equal(secret.name, "default");
  assert.equal(secret.type.case, "tlsCertificate");

  // After the first sync a caller without an identity is not told to retry (no UNAVAILABLE) and
  // gets nothing; its stream stays open and is served once an entry for it syncs.
  const other = await startSocket(h, join(dir, "other.sock"), ["unix:uid:2"], undefined, observer);
  const otherClient = new Sds(`unix://${join(dir, "other.sock")}`, grpc.credentials.createInsecure()) as unknown as SdsClient;
  try {
    const pending = streamOnce(otherClient, "default");
    const early = await Promise.race([pending, new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 300))]);
    assert.equal(early, "open", "no status and no secret for a caller without an entry");
    server.putEntry({ id: "other", spiffeId: "spiffe://example.org/other", selectors: [{ type: "unix", value: "uid:2" }] });
    await h.advance(6000);
    const served = await pending;
    assert.equal(served.status, undefined, served.status?.details);
    assert.equal(fromBinary(SecretSchema, served.response!.resources[0]!.value).name, "default");
  } finally {
    otherClient.close();
    await other();
  }
  // Each call's attestation outcome and status, as /metrics shows them (docs/metrics.md).
  const outcomes = (await registry.getSingleMetric("spindle_agent_workload_attestations_total")!.get()).values;
  assert.deepEqual(Object.fromEntries(outcomes.map((v) => [`${v.labels["service"]}/${v.labels["outcome"]}`, v.value])), { "sds/not_ready": 6, "sds/granted": 2 });
  const calls = Object.fromEntries((await registry.getSingleMetric("spindle_agent_rpc_calls_total")!.get()).values.map((v) => [`${v.labels["method"]}/${v.labels["code"]}`, v.value]));
  // The two served streams (the second once its caller's entry synced) were cancelled by the
  // client; the server may have ended one first (OK).
  const served = (calls["StreamSecrets/OK"] ?? 0) + (calls["StreamSecrets/CANCELLED"] ?? 0);
  delete calls["StreamSecrets/OK"];
  delete calls["StreamSecrets/CANCELLED"];
  assert.equal(served, 2);
  assert.deepEqual(calls, { "StreamSecrets/UNAVAILABLE": 5, "FetchSecrets/UNAVAILABLE": 1 });
});

interface EcdsClient extends grpc.Client {
  streamExtensionConfigs(): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
}

test("ECDS: Unavailable before the first sync; after it, an Envoy's filters follow its identity as syncs change it", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-agent-socket-"));
  const policyPath = join(dir, "policy.yaml");
  writeFileSync(policyPath, `version: 1\nservices:\n  ${WEB}:\n    allow:\n      - from: [spiffe://example.org/frontend]\n`);
  const server = await createTestServer();
  const h = createAgentHarness(server);
  const socketPath = join(dir, "api.sock");
  const stop = await startSocket(h, socketPath, ["unix:uid:1000"], policyPath);
  const Ecds = grpc.makeGenericClientConstructor(grpcServiceDefinition(ExtensionConfigDiscoveryService), "Ecds");
  const client = new Ecds(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as EcdsClient;
  t.after(async () => {
    client.close();
    await h.loop.stop();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const ask = (call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>, nonce = "") =>
    call.write(create(DiscoveryRequestSchema, { typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL, node: { id: "web-sidecar" }, resourceNames: ["spindle.authz.allow"], responseNonce: nonce }));
  /** The principals of the ALLOW filter in a response, as JSON text (empty policies: deny-all). */
  const policiesOf = (r: DiscoveryResponse) => {
    const tec = fromBinary(TypedExtensionConfigSchema, r.resources[0]!.value);
    return JSON.stringify(toJson(RBACSchema, fromBinary(RBACSchema, tec.typedConfig!.value)));
  };

  const early = await new Promise<grpc.StatusObject>((resolve) => {
    const call = client.streamExtensionConfigs();
    call.on("data", () => undefined);
    call.on("error", () => undefined);
    call.on("status", resolve);
    ask(call);
  });
  assert.equal(early.code, grpc.status.UNAVAILABLE, early.details);
  assert.match(early.details, /first sync/);

  // Synced, but no entry for this Envoy yet: it is no service, so it gets the deny-all ALLOW filter.
  h.loop.start();
  await h.settle();
  const call = client.streamExtensionConfigs();
  const responses: DiscoveryResponse[] = [];
  let wake: (() => void) | undefined;
  call.on("data", (r: DiscoveryResponse) => {
    responses.push(r);
    ask(call, r.nonce);
    wake?.();
  });
  call.on("error", () => undefined);
  const next = (n: number) =>
    new Promise<DiscoveryResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ECDS response #${n}`)), 5000);
      const check = () => responses.length >= n && (clearTimeout(timer), (wake = undefined), resolve(responses[n - 1]!));
      wake = check;
      check();
    });
  ask(call);
  const first = await next(1);
  assert.ok(!policiesOf(first).includes("frontend"), `before its entry the Envoy is denied everything: ${policiesOf(first)}`);

  // Its entry arrives with a sync: the open stream is pushed the web service's filter.
  server.putEntry({ id: "web", spiffeId: WEB });
  await h.advance(6000);
  const second = await next(2);
  assert.match(policiesOf(second), /spiffe:\/\/example\.org\/frontend/);
});
