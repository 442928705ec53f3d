// The public socket's call metrics over a real temp Unix socket (the shared grpc-js socket server
// with the Workload API and a fake identity source): calls by method and code, latency, open
// streams, and the caller attestation outcome, including a client cancelling a granted stream
// and refusals that end a call before any answer.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import { createGrpcSocketServer, type GrpcSocketServer } from "../transport/grpc-socket-server.js";
import { createSilentLogger } from "../common/logger.js";
import { JWTSVIDRequestSchema, X509SVIDRequestSchema, type X509SVIDResponse } from "../gen/workload_pb.js";
import { createRpcMetricsInterceptor, methodLabels } from "./rpc-metrics.js";
import { addWorkloadApi } from "./workload-api/index.js";
import { collect, header, rawWorkloadClient, type RawClient } from "../../test/support/workload-api-harness.js";
import { FakeIdentitySource, createFixedAttestor } from "../../test/support/fake-identity-source.js";

const A = "spiffe://example.org/service-a";
const WA = { service: "workload_api" };

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await registry.getSingleMetric(name)!.get();
  const v = m.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l) && Object.keys(x.labels).length >= Object.keys(labels).length);
  return v?.value;
}

async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function jwt(raw: RawClient, md: grpc.Metadata, spiffeId = ""): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => (raw["fetchJWTSVID"] as (...a: unknown[]) => void)(create(JWTSVIDRequestSchema, { audience: ["x"], spiffeId }), md, (e: grpc.ServiceError | null) => resolve(e)));
}

describe("public socket call metrics", () => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-rpc-metrics-"));
  const registry = new Registry();
  const source = new FakeIdentitySource();
  let server: GrpcSocketServer;
  let raw: RawClient;

  before(async () => {
    source.grant("test:app:a", A);
    const logger = createSilentLogger();
    server = createGrpcSocketServer({ socketPath: join(dir, "api.sock"), logger, observer: createRpcMetricsInterceptor({ registry }) });
    addWorkloadApi(server, { source, attestor: createFixedAttestor(["test:app:a"]), logger });
    await server.start();
    raw = rawWorkloadClient(server.socketPath);
  });
  after(async () => {
    raw.close();
    await server.close(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it("names services and methods by their short labels", () => {
    assert.deepEqual(methodLabels("/SpiffeWorkloadAPI/FetchX509SVID"), { service: "workload_api", method: "FetchX509SVID" });
    assert.deepEqual(methodLabels("/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets"), { service: "sds", method: "StreamSecrets" });
    assert.deepEqual(methodLabels("/envoy.service.extension.v3.ExtensionConfigDiscoveryService/DeltaExtensionConfigs"), { service: "ecds", method: "DeltaExtensionConfigs" });
    assert.deepEqual(methodLabels("/other.Svc/Do"), { service: "other.Svc", method: "Do" });
  });

  it("a granted stream is open while it runs, counted granted once, and ends CANCELLED when the client goes away", async () => {
    const call = raw["fetchX509SVID"]!(create(X509SVIDRequestSchema), header()) as grpc.ClientReadableStream<X509SVIDResponse>;
    const s = collect(call);
    await s.next();
    assert.equal(await value(registry, "spindle_agent_rpc_streams_open", { ...WA, method: "FetchX509SVID" }), 1);
    assert.equal(await value(registry, "spindle_agent_workload_attestations_total", { ...WA, outcome: "granted" }), 1);
    source.rotate(A);
    await s.next();
    assert.equal(await value(registry, "spindle_agent_workload_attestations_total", { ...WA, outcome: "granted" }), 1, "one stream, one outcome");
    call.cancel();
    await eventually(async () => (await value(registry, "spindle_agent_rpc_calls_total", { ...WA, method: "FetchX509SVID", code: "CANCELLED" })) === 1);
    assert.equal(await value(registry, "spindle_agent_rpc_streams_open", { ...WA, method: "FetchX509SVID" }), 0);
  });

  it("a unary call: OK with its latency observed; refusals by reason, before any answer", async () => {
    assert.equal(await jwt(raw, header()), null);
    assert.equal(await value(registry, "spindle_agent_rpc_calls_total", { ...WA, method: "FetchJWTSVID", code: "OK" }), 1);
    const m = await registry.getSingleMetric("spindle_agent_rpc_duration_seconds")!.get();
    const count = (m.values as { metricName?: string; labels: Record<string, string | number>; value: number }[]).find((v) => v.metricName === "spindle_agent_rpc_duration_seconds_count" && v.labels["method"] === "FetchJWTSVID" && v.labels["code"] === "OK");
    assert.equal(count?.value, 1);
    assert.equal(await value(registry, "spindle_agent_workload_attestations_total", { ...WA, outcome: "granted" }), 2);

    assert.equal((await jwt(raw, new grpc.Metadata()))?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(await value(registry, "spindle_agent_workload_attestations_total", { ...WA, outcome: "missing_security_header" }), 1);
    assert.equal((await jwt(raw, header(), "spiffe://example.org/not-mine"))?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(await value(registry, "spindle_agent_workload_attestations_total", { ...WA, outcome: "no_entry" }), 1);
    assert.equal(await value(registry, "spindle_agent_rpc_calls_total", { ...WA, method: "FetchJWTSVID", code: "PERMISSION_DENIED" }), 1);
    source.ready = false;
    try {
      assert.equal((await jwt(raw, header()))?.code, grpc.status.UNAVAILABLE);
    } finally {
      source.ready = true;
    }
    assert.equal(await value(registry, "spindle_agent_workload_attestations_total", { ...WA, outcome: "not_ready" }), 1);
    // A failure that is not about who is calling is a call outcome only.
    assert.equal((await jwt(raw, header(), "not a spiffe id"))?.code, grpc.status.INVALID_ARGUMENT);
    const outcomes = (await registry.getSingleMetric("spindle_agent_workload_attestations_total")!.get()).values.reduce((n, v) => n + v.value, 0);
    assert.equal(outcomes, 5);
  });
});
