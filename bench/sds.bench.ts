// `npm run bench sds`: SDS on one temp Unix socket under load. A child process runs the agent's
// socket server + SDS service (so its RSS and CPU are the server's alone); this process opens
// 10,000 StreamSecrets streams over several grpc-js channels behaving as Envoy (node on the first
// request, ACK every response), then measures the fan-out of one SVID rotation to every stream
// and 1,000 streams reconnecting at once with their old nonce. Targets: p99 <= 1 s, RSS <= 512 MB.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { NodeSchema } from "../src/gen/envoy/config/core/v3/base_pb.js";
import { DiscoveryRequestSchema, type DiscoveryRequest, type DiscoveryResponse } from "../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { SecretDiscoveryService } from "../src/gen/envoy/service/secret/v3/sds_pb.js";
import { createGrpcSocketServer } from "../src/transport/grpc-socket-server.js";
import { grpcServiceDefinition } from "../src/transport/grpc-service.js";
import { createSilentLogger } from "../src/common/logger.js";
import { createSdsService, createXdsMetrics, SECRET_TYPE_URL, type SecretChange, type X509SvidMaterial } from "../src/sds/index.js";
import { createTestCa, issueTestSvid } from "../test/support/spiffe/test-ca.js";

const DEFAULT_STREAMS = 10_000;
const DEFAULT_CHANNELS = 20;
const DEFAULT_RECONNECTS = 1_000;
const SPIFFE_ID = "spiffe://example.org/bench";
const SERVER_FLAG = "--sds-bench-server";

type ToServer = { cmd: "rotate" } | { cmd: "stats" } | { cmd: "exit" };
type FromServer = { ready: true } | { rotated: true; serverMs: Record<string, number> } | { stats: { rssBytes: number; cpuSeconds: number; openStreams: number } };

// ---- server (child process) ----
async function serverMain(socketPath: string): Promise<void> {
  const root = createTestCa({ trustDomain: "example.org" });
  const issue = (): X509SvidMaterial => {
    const svid = issueTestSvid(root, { spiffeId: SPIFFE_ID });
    return { spiffeId: SPIFFE_ID, certChainDer: svid.chainDer, privateKeyPkcs8Der: svid.privateKeyDer };
  };
  let svids = [issue()];
  const own = { trustDomain: "example.org", x509AuthoritiesDer: [root.der] };
  const listeners = new Set<(c: SecretChange) => void>();
  const logger = createSilentLogger();
  const registry = new Registry();
  const pushes = async () => (await registry.getSingleMetric("spindle_xds_pushes_total")!.get()).values.reduce((n, v) => n + v.value, 0);
  const server = createGrpcSocketServer({ socketPath, logger });
  const sds = createSdsService({
    source: {
      svidsFor: () => svids,
      bundlesFor: () => ({ own, federated: [] }),
      onChange: (l) => (listeners.add(l), () => listeners.delete(l)),
    },
    attestor: { attest: async (peer) => ({ peer, selectors: [`unix:uid:${peer.uid}`] }) },
    logger,
    metrics: createXdsMetrics({ registry }),
    peerCredentials: server.peerCredentials,
  });
  server.addService(sds.definition, sds.implementation);
  await server.start();
  const send = (m: FromServer) => process.send!(m);
  process.on("message", (m: ToServer) => {
    if (m.cmd === "rotate") {
      void (async () => {
        const target = (await pushes()) + sds.openStreams();
        const t0 = performance.now();
        svids = [issue()];
        for (const l of listeners) l({ svids: [SPIFFE_ID] });
        await sds.idle();
        const queued = performance.now() - t0;
        while ((await pushes()) < target) await new Promise((r) => setTimeout(r, 1));
        send({ rotated: true, serverMs: { allWritten: Math.round(queued), allCounted: Math.round(performance.now() - t0) } });
      })();
    } else if (m.cmd === "stats") {
      const cpu = process.cpuUsage();
      send({ stats: { rssBytes: process.memoryUsage().rss, cpuSeconds: (cpu.user + cpu.system) / 1e6, openStreams: sds.openStreams() } });
    } else {
      void server.close(100).then(() => process.exit(0));
    }
  });
  send({ ready: true });
}

if (process.argv[2] === SERVER_FLAG) void serverMain(process.argv[3]!);

// ---- client (bench process) ----
interface BenchStream {
  call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  version: string;
  nonce: string;
  firstAt: number;
}

function percentiles(ms: number[]): { p50: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), max: Math.round(s[s.length - 1]! * 10) / 10 };
}

function request(client: grpc.Client, method: string) {
  return (client as unknown as Record<string, () => grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>>)[method]!.call(client);
}

export interface SdsBenchOptions {
  streams?: number;
  channels?: number;
  reconnects?: number;
}

export default function sdsBench(): Promise<Record<string, unknown>> {
  return runSdsBench({});
}

export async function runSdsBench(options: SdsBenchOptions): Promise<Record<string, unknown>> {
  const STREAMS = options.streams ?? DEFAULT_STREAMS;
  const CHANNELS = options.channels ?? DEFAULT_CHANNELS;
  const RECONNECTS = options.reconnects ?? DEFAULT_RECONNECTS;
  const dir = mkdtempSync(join(tmpdir(), "spindle-sds-bench-"));
  const socketPath = join(dir, "agent.sock");
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [SERVER_FLAG, socketPath], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  const messages: FromServer[] = [];
  const waiters: ((m: FromServer) => void)[] = [];
  child.on("message", (m: FromServer) => (waiters.length > 0 ? waiters.shift()!(m) : messages.push(m)));
  const nextMessage = () => (messages.length > 0 ? Promise.resolve(messages.shift()!) : new Promise<FromServer>((r) => waiters.push(r)));
  const ask = async (m: ToServer) => {
    child.send(m);
    return nextMessage();
  };
  const stats = async () => ((await ask({ cmd: "stats" })) as Extract<FromServer, { stats: unknown }>).stats;

  try {
    await nextMessage(); // ready
    const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(SecretDiscoveryService), "SDS");
    const clients = Array.from({ length: CHANNELS }, () => new Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
          // Envoy's HTTP/2 windows are large (256 MiB per stream, 1 MiB per connection by default).
          "grpc-node.flow_control_window": 16 * 1024 * 1024,
        }));
    let target = "";
    let rotatedAt = 0;
    const latencies: number[] = [];
    let onAllUpdated: () => void = () => {};

    const open = (i: number, previous?: BenchStream): Promise<BenchStream> =>
      new Promise((resolve, reject) => {
        const call = request(clients[i % CHANNELS]!, "streamSecrets");
        const node = create(NodeSchema, { id: `envoy-${i % 500}`, cluster: "bench" });
        const s: BenchStream = { call, version: "", nonce: "", firstAt: 0 };
        call.on("data", (res: DiscoveryResponse) => {
          s.nonce = res.nonce;
          s.version = res.resources[0] ? res.versionInfo : s.version;
          call.write(create(DiscoveryRequestSchema, { typeUrl: SECRET_TYPE_URL, versionInfo: res.versionInfo, responseNonce: res.nonce, resourceNames: ["default"] }));
          if (s.firstAt === 0) {
            s.firstAt = performance.now();
            resolve(s);
          } else if (target !== "" && res.nonce !== "" && rotatedAt > 0) {
            latencies.push(performance.now() - rotatedAt);
            if (latencies.length === STREAMS) onAllUpdated();
          }
        });
        call.on("error", (err: grpc.ServiceError) => {
          if (err.code !== grpc.status.CANCELLED) reject(err);
        });
        call.write(
          create(DiscoveryRequestSchema, {
            typeUrl: SECRET_TYPE_URL,
            node,
            resourceNames: ["default"],
            ...(previous ? { versionInfo: previous.version, responseNonce: previous.nonce } : {}),
          }),
        );
      });

    const clientCpu0 = process.cpuUsage();
    const before = await stats();
    const t0 = performance.now();
    const streams = await Promise.all(Array.from({ length: STREAMS }, (_, i) => open(i)));
    const openSeconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 500)); // let ACKs land
    const opened = await stats();

    // Fan-out: one rotation, every stream must receive the new version.
    target = "rotate";
    const allUpdated = new Promise<void>((r) => (onAllUpdated = r));
    const clientCpuRotation0 = process.cpuUsage();
    rotatedAt = performance.now();
    const rotated = (await ask({ cmd: "rotate" })) as Extract<FromServer, { rotated: true }>;
    await Promise.race([allUpdated, new Promise((_, rej) => setTimeout(() => rej(new Error(`only ${latencies.length} of ${STREAMS} streams updated in 60 s`)), 60_000))]);
    const fanout = percentiles(latencies);
    const clientCpuRotation = process.cpuUsage(clientCpuRotation0);
    await new Promise((r) => setTimeout(r, 500));
    const afterRotation = await stats();

    // 1,000 streams reconnect at once, carrying their old nonce.
    target = "";
    const victims = streams.slice(0, RECONNECTS);
    victims.forEach((s) => s.call.cancel());
    const r0 = performance.now();
    const reopened = await Promise.all(victims.map((s, i) => open(i, s)));
    const reconnect = percentiles(reopened.map((s) => s.firstAt - r0));
    const final = await stats();

    [...reopened, ...streams.slice(RECONNECTS)].forEach((s) => s.call.cancel());
    clients.forEach((c) => c.close());
    const mb = (b: number) => Math.round(b / 1048576);
    return {
      streams: STREAMS,
      channels: CHANNELS,
      openAllSeconds: Math.round(openSeconds * 100) / 100,
      serverOpenStreams: opened.openStreams,
      rotationFanoutMs: fanout,
      serverRotationMs: rotated.serverMs,
      reconnect1000Ms: reconnect,
      serverRssMb: { idle: mb(before.rssBytes), with10kStreams: mb(opened.rssBytes), afterRotation: mb(afterRotation.rssBytes), final: mb(final.rssBytes) },
      serverCpuSeconds: { open10k: round(opened.cpuSeconds - before.cpuSeconds), rotation: round(afterRotation.cpuSeconds - opened.cpuSeconds), reconnect: round(final.cpuSeconds - afterRotation.cpuSeconds), total: round(final.cpuSeconds) },
      benchClientCpuSeconds: { rotation: round((clientCpuRotation.user + clientCpuRotation.system) / 1e6), total: round((process.cpuUsage(clientCpu0).user + process.cpuUsage(clientCpu0).system) / 1e6) },
      targets: { p99Under1s: fanout.p99 <= 1000, rssUnder512Mb: mb(Math.max(opened.rssBytes, afterRotation.rssBytes, final.rssBytes)) <= 512 },
    };
  } finally {
    child.send({ cmd: "exit" });
    await new Promise((r) => child.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (n: number) => Math.round(n * 100) / 100;
