// createAgent wired to the real agent API transport against an in-process agent API server (the
// agentapi test harness: CA on a fake clock, x509pop node attestation) on temp sockets: failover
// past a dead server address, the Workload API and gRPC health on the one socket, the agent SVID
// renewed at half-life over mTLS, and re-attestation after the server evicted the agent.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { writeFileSync } from "node:fs";
import { grpcServiceDefinition } from "../transport/grpc-service.js";
import { TypedExtensionConfigSchema } from "../gen/envoy/config/core/v3/extension_pb.js";
import { RBACSchema } from "../gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { DiscoveryRequestSchema, type DiscoveryResponse } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { ExtensionConfigDiscoveryService } from "../gen/envoy/service/extension/v3/config_discovery_pb.js";
import { TYPED_EXTENSION_CONFIG_TYPE_URL } from "../sds/type-urls.js";
import { SpindleError } from "../common/errors.js";
import { createSilentLogger } from "../common/logger.js";
import { pemToDers } from "../common/pem.js";
import { nodeCertificate, startHarness, type Harness } from "../../test/support/agentapi-harness.js";
import { createAgent, type Agent } from "./agent.js";
import { HEALTH_SERVICE_DEFINITION, ServingStatus } from "./health-service.js";
import * as joinToken from "./nodeattestors/join-token/index.js";
import * as x509pop from "./nodeattestors/x509pop/index.js";
import { createWorkloadApiClient } from "../workload-client/index.js";

const TD = "example.org";
const WL = `spiffe://${TD}/workload`;
const uid = process.getuid!();
const dir = mkdtempSync(join(tmpdir(), "spindle-agent-unit-"));
chmodSync(dir, 0o755);
const socketPath = join(dir, "public", "api.sock");
const policyPath = join(dir, "policy.yaml");
let h: Harness;
let agent: Agent;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string, step?: () => unknown, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    step?.();
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function fetchIds(): Promise<string[]> {
  const client = createWorkloadApiClient({ address: `unix://${socketPath}` });
  try {
    return (await client.fetchX509Context()).svids.map((s) => s.spiffeId);
  } catch {
    return [];
  } finally {
    client.close();
  }
}

before(async () => {
  h = await startHarness({ agentSvidTtlSeconds: 120 });
  const cert = nodeCertificate(h.nodeCa, "node-1");
  const dead = await freePort();
  writeFileSync(policyPath, `services:\n  ${WL}:\n    allow:\n      - from: [spiffe://${TD}/frontend]\n`);
  agent = createAgent({
    trustDomain: TD,
    // The first address refuses connections: every call fails over to the second.
    serverAddresses: [`127.0.0.1:${dead}`, `127.0.0.1:${h.server.address.port}`],
    socketPath,
    dataDir: join(dir, "agent"),
    nodeAttestor: x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey }),
    trustBundleDer: h.ca.bundleContents().x509Authorities,
    workloadAttestors: [{ name: "unix", attest: async () => [{ type: "unix", value: `uid:${uid}` }] }],
    authzPolicyPath: policyPath,
    healthAddress: { host: "127.0.0.1", port: 0 },
    syncIntervalMs: 1000,
    logger: createSilentLogger(),
    clock: h.clock,
  });
  await agent.start();
  await agent.whenReady();
});

after(async () => {
  await agent?.stop();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("attests through failover, syncs a new entry and serves it on the Workload API; gRPC health on the same socket", async () => {
  const agentId = agent.status().agentId!;
  assert.match(agentId, /^spiffe:\/\/example\.org\/spindle\/agent\/x509pop\//);
  h.entries.put({ spiffeId: WL, parentId: agentId, selectors: [{ type: "unix", value: `uid:${uid}` }] });
  const ids = await eventually(async () => ((await fetchIds()).includes(WL) ? fetchIds() : undefined), "the entry to be served", () => h.clock.advance(1000));
  assert.deepEqual(ids, [WL]);

  const Health = grpc.makeGenericClientConstructor(HEALTH_SERVICE_DEFINITION, "Health");
  const health = new Health(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as {
    check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: number }) => void): void;
    close(): void;
  };
  try {
    const check = (service: string) => new Promise<{ err: grpc.ServiceError | null; status?: number }>((r) => health.check({ service }, (err, res) => r({ err, status: res?.status })));
    const overall = await check("");
    assert.equal(overall.status, ServingStatus.SERVING, String(overall.err));
    assert.equal((await check("SpiffeWorkloadAPI")).status, ServingStatus.SERVING);
    assert.equal((await check("no.such.Service")).err?.code, grpc.status.NOT_FOUND);
  } finally {
    health.close();
  }

  const http = agent.healthAddress()!;
  assert.equal((await fetch(`http://127.0.0.1:${http.port}/live`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${http.port}/ready`)).status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
  assert.match(metrics, /^spindle_agent_ready 1$/m);
  assert.match(metrics, /^spindle_agent_entries 1$/m);
  assert.match(metrics, /^spindle_agent_sync_failures 0$/m);
  assert.match(metrics, /^spindle_agent_svid_expiry_seconds \d+/m);
});

test("ECDS serves the policy of the calling Envoy's own service (its default SPIFFE ID)", async () => {
  const Ecds = grpc.makeGenericClientConstructor(grpcServiceDefinition(ExtensionConfigDiscoveryService), "Ecds");
  const client = new Ecds(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as {
    fetchExtensionConfigs(req: unknown, cb: (err: grpc.ServiceError | null, res?: DiscoveryResponse) => void): void;
    close(): void;
  };
  try {
    const res = await new Promise<DiscoveryResponse>((resolve, reject) =>
      client.fetchExtensionConfigs(create(DiscoveryRequestSchema, { typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL, node: { id: "web-sidecar" }, resourceNames: ["spindle.authz.allow"] }), (err, r) =>
        err ? reject(err) : resolve(r!),
      ),
    );
    const config = fromBinary(TypedExtensionConfigSchema, res.resources[0]!.value);
    assert.equal(config.name, "spindle.authz.allow");
    const rbac = anyUnpack(config.typedConfig!, RBACSchema)!;
    assert.match(JSON.stringify(Object.values(rbac.rules!.policies)), new RegExp(`spiffe://${TD}/frontend`));
  } finally {
    client.close();
  }
});

test("renews the agent SVID at half-life over mTLS, and re-attests after the server evicted the agent", async () => {
  const first = agent.status();
  const agentId = first.agentId!;
  // TTL 120 s: renewal is due at 60 s +-10%.
  h.clock.advance(67_000);
  const renewed = await eventually(() => (agent.status().agentSvidExpiresAt !== first.agentSvidExpiresAt ? agent.status() : undefined), "the agent SVID renewal");
  assert.equal(renewed.agentId, agentId);
  assert.ok(Date.parse(renewed.agentSvidExpiresAt!) > Date.parse(first.agentSvidExpiresAt!));
  assert.equal((await h.agents.getAgent(agentId))?.previousSerial !== "", true, "the server recorded a renewal");

  await h.agents.deleteAgent(agentId);
  // The next sync is refused, so the agent renews at once, is refused again and re-attests. The
  // clock moves at most 10 s (sync rounds), far from the SVID's expiry, so expiry cannot be why.
  let steps = 0;
  const reattested = await eventually(
    async () => {
      const a = await h.agents.getAgent(agentId);
      return a !== undefined && a.previousSerial === "" ? a : undefined;
    },
    "re-attestation after eviction",
    () => steps++ % 25 === 0 && steps < 250 && h.clock.advance(1000),
    10_000,
  );
  assert.equal(reattested.attestor, "x509pop");
  await eventually(() => (agent.status().sync.failures === 0 ? true : undefined), "sync to recover", () => h.clock.advance(1000));
  assert.deepEqual(await fetchIds(), [WL], "the workload kept its identity throughout");
});

test("without a trust bundle the agent refuses to start unless insecure bootstrap is allowed; then it learns the bundle", async () => {
  const base = {
    trustDomain: TD,
    serverAddresses: [`127.0.0.1:${h.server.address.port}`],
    workloadAttestors: [{ name: "unix", attest: async () => [{ type: "unix", value: `uid:${uid}` }] }],
    logger: createSilentLogger(),
    clock: h.clock,
  };
  const token = "insecure-bootstrap-token-0001";
  await h.tokens.createJoinToken(token, h.clock.now() + 600_000);
  const refused = createAgent({ ...base, socketPath: join(dir, "p2", "api.sock"), dataDir: join(dir, "a2"), nodeAttestor: joinToken.createJoinTokenAgentAttestor({ token }) });
  await assert.rejects(refused.start(), (err) => SpindleError.is(err, "ERR_AGENT_START") && /--trust-bundle/.test(err.message));

  h.clock.advance(2000); // attestation rate limit: 1/s
  const insecure = createAgent({
    ...base,
    socketPath: join(dir, "p3", "api.sock"),
    dataDir: join(dir, "a3"),
    nodeAttestor: joinToken.createJoinTokenAgentAttestor({ token }),
    insecureBootstrap: true,
  });
  try {
    await insecure.start();
    await insecure.whenReady();
    assert.match(insecure.status().agentId!, /\/spindle\/agent\/join_token\//);
    // The bundle delivered with the agent SVID was saved: the next start verifies the server.
    const saved = readFileSync(join(dir, "a3", "bundle.pem"), "utf8");
    assert.deepEqual(pemToDers(saved, "CERTIFICATE").map((d) => d.toString("hex")), h.ca.bundleContents().x509Authorities.map((d) => Buffer.from(d).toString("hex")));
  } finally {
    await insecure.stop();
  }
});
