// Shared by the sds*.test.ts suites and bench/sds.bench.ts: test PKI, a fake SecretSource and
// attestor (selectors from the peer uid), and an Envoy-like grpc-js client (one resource name per
// stream, `node` only on the first request) decoding every response with the generated types.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { NodeSchema, type Node } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { SecretSchema, type Secret } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { SecretDiscoveryService } from "../../src/gen/envoy/service/secret/v3/sds_pb.js";
import { Registry } from "prom-client";
import type { LevelWithSilent } from "pino";
import { grpcServiceDefinition } from "../../src/transport/grpc-service.js";
import { createGrpcSocketServer, type GrpcSocketServer } from "../../src/transport/grpc-socket-server.js";
import { createLogger } from "../../src/common/logger.js";
import { createSdsService, type SdsServiceOptions, type XdsService } from "../../src/sds/sds-service.js";
import { createXdsMetrics, type XdsMetrics } from "../../src/sds/xds-metrics.js";
import { createTestCa, issueTestSvid, type TestCa } from "../support/spiffe/test-ca.js";
import { createEcdsService } from "../../src/sds/ecds-service.js";
import type { Caller, CallerAttestor, ExtensionConfigSource, CallerBundles, SecretChange, SecretSource, TrustBundleMaterial, X509SvidMaterial } from "../../src/sds/contracts.js";
import { SECRET_TYPE_URL } from "../../src/sds/type-urls.js";

export const TD = "example.org";
export const FED_TD = "other.org";

export function tempSocketPath(prefix = "sds"): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `spindle-${prefix}-`));
  return { path: join(dir, "agent", "public.sock"), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestPki {
  readonly root: TestCa;
  /** SVIDs are issued by this intermediate, so chains are leaf + intermediate (root only in the bundle). */
  readonly intermediate: TestCa;
  readonly fedRoot: TestCa;
}

export function createTestPki(): TestPki {
  const root = createTestCa({ trustDomain: TD });
  return { root, intermediate: createTestCa({ trustDomain: TD, parent: root }), fedRoot: createTestCa({ trustDomain: FED_TD }) };
}

export const uidSelector = (uid: number): string => `unix:uid:${uid}`;

/** Selectors from the peer uid and gid, as the unix workload attestor would produce. */
export function createFakeAttestor(): CallerAttestor {
  return {
    attest: async (peer) => ({ peer, selectors: [uidSelector(peer.uid), `unix:gid:${peer.gid}`] }),
  };
}

/**
 * An in-memory SecretSource: SPIFFE IDs granted to selectors, SVIDs issued from the test PKI,
 * rotation replacing the material objects and emitting a change.
 */
export class FakeSecretSource implements SecretSource {
  readonly svids = new Map<string, X509SvidMaterial>();
  readonly grants = new Map<string, string[]>();
  own: TrustBundleMaterial;
  federated: TrustBundleMaterial[];
  readonly #listeners = new Set<(change: SecretChange) => void>();

  constructor(readonly pki: TestPki) {
    this.own = { trustDomain: TD, x509AuthoritiesDer: [pki.root.der] };
    this.federated = [{ trustDomain: FED_TD, x509AuthoritiesDer: [pki.fedRoot.der] }];
  }

  /** Grants `spiffeIds` (in order; the first is the default) to callers with `selector`. */
  grant(selector: string, ...spiffeIds: string[]): void {
    for (const id of spiffeIds) if (!this.svids.has(id)) this.svids.set(id, this.issue(id));
    this.grants.set(selector, [...(this.grants.get(selector) ?? []), ...spiffeIds]);
  }

  issue(spiffeId: string): X509SvidMaterial {
    const svid = issueTestSvid(this.pki.intermediate, { spiffeId });
    return { spiffeId, certChainDer: svid.chainDer, privateKeyPkcs8Der: svid.privateKeyDer };
  }

  /** Re-issues the SVIDs and emits one change naming them. */
  rotate(...spiffeIds: string[]): void {
    for (const id of spiffeIds) this.svids.set(id, this.issue(id));
    this.emit({ svids: spiffeIds });
  }

  emit(change: SecretChange): void {
    for (const l of this.#listeners) l(change);
  }

  svidsFor(caller: Caller): X509SvidMaterial[] {
    const ids = caller.selectors.flatMap((s) => this.grants.get(s) ?? []);
    return [...new Set(ids)].map((id) => this.svids.get(id)!);
  }

  bundlesFor(): CallerBundles {
    return { own: this.own, federated: this.federated };
  }

  onChange(listener: (change: SecretChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export function envoyNode(init: MessageInitShape<typeof NodeSchema> = {}): Node {
  return create(NodeSchema, {
    id: "sidecar~10.0.0.1~web-1~default",
    cluster: "web",
    userAgentName: "envoy",
    userAgentVersionType: { case: "userAgentBuildVersion", value: { version: { majorNumber: 1, minorNumber: 31, patch: 2 } } },
    ...init,
  });
}

const SdsClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(SecretDiscoveryService), "SecretDiscoveryService");

export function createSdsClient(socketPath: string, options: grpc.ChannelOptions = {}): grpc.Client {
  return new SdsClient(`unix:${socketPath}`, grpc.credentials.createInsecure(), options);
}

/** One bidi stream with an async inbox: `next()` waits for the next response, `status` for the end. */
export interface TestStream<Req, Res> {
  send(request: Req): void;
  next(timeoutMs?: number): Promise<Res>;
  /** Resolves true when nothing arrives within `ms`. */
  quiet(ms: number): Promise<boolean>;
  readonly status: Promise<grpc.StatusObject>;
  readonly received: Res[];
  close(): void;
}

export function openStream<Req, Res>(client: grpc.Client, method: string): TestStream<Req, Res> {
  const call = (client as unknown as Record<string, (...a: unknown[]) => grpc.ClientDuplexStream<Req, Res>>)[method]!.call(client);
  const inbox: Res[] = [];
  const received: Res[] = [];
  const waiters: ((r: Res) => void)[] = [];
  let resolveStatus: (s: grpc.StatusObject) => void = () => {};
  const status = new Promise<grpc.StatusObject>((r) => (resolveStatus = r));
  call.on("data", (res: Res) => {
    received.push(res);
    const w = waiters.shift();
    if (w) w(res);
    else inbox.push(res);
  });
  call.on("status", (s) => resolveStatus(s));
  call.on("error", () => {});
  return {
    send: (request) => void call.write(request),
    next(timeoutMs = 5000) {
      const queued = inbox.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise<Res>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((r) => {
          clearTimeout(timer);
          resolve(r);
        });
      });
    },
    async quiet(ms) {
      await new Promise((r) => setTimeout(r, ms));
      return inbox.length === 0;
    },
    status,
    received,
    close: () => call.cancel(),
  };
}

export type SotwStream = TestStream<DiscoveryRequest, DiscoveryResponse>;
export type DeltaStream = TestStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

export function sotwRequest(init: MessageInitShape<typeof DiscoveryRequestSchema>): DiscoveryRequest {
  return create(DiscoveryRequestSchema, { typeUrl: SECRET_TYPE_URL, ...init });
}

export function deltaRequest(init: MessageInitShape<typeof DeltaDiscoveryRequestSchema>): DeltaDiscoveryRequest {
  return create(DeltaDiscoveryRequestSchema, { typeUrl: SECRET_TYPE_URL, ...init });
}

/** Opens StreamSecrets for one name as Envoy does (node on the first request only). */
export function subscribeSotw(client: grpc.Client, name: string, node: Node = envoyNode()): SotwStream {
  const stream = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamSecrets");
  stream.send(sotwRequest({ node, resourceNames: [name] }));
  return stream;
}

/** ACKs (or NACKs with `error`) a SotW response, carrying its version and nonce. */
export function ackSotw(stream: SotwStream, response: DiscoveryResponse, name: string, error?: string): void {
  stream.send(
    sotwRequest({
      versionInfo: error === undefined ? response.versionInfo : "",
      responseNonce: response.nonce,
      resourceNames: [name],
      ...(error === undefined ? {} : { errorDetail: { code: 3, message: error } }),
    }),
  );
}

/** Decodes a packed Secret, checking its type URL first. */
export function decodeSecret(any: { typeUrl: string; value: Uint8Array }): Secret {
  if (any.typeUrl !== SECRET_TYPE_URL) throw new Error(`unexpected type URL ${any.typeUrl}`);
  return fromBinary(SecretSchema, any.value);
}

export interface TestAgent {
  readonly socketPath: string;
  readonly server: GrpcSocketServer;
  readonly sds: XdsService;
  /** Present when started with `extensions`. */
  readonly ecds: XdsService | undefined;
  readonly metrics: XdsMetrics;
  readonly registry: Registry;
  readonly logLines: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Socket server + SDS service on a temp socket, logging JSON lines into `logLines`. */
export async function startTestAgent(
  source: SecretSource,
  options: Partial<SdsServiceOptions> & { level?: LevelWithSilent; extensions?: ExtensionConfigSource } = {},
): Promise<TestAgent> {
  const tmp = tempSocketPath();
  const logLines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: options.level ?? "debug",
    destination: { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const registry = new Registry();
  const metrics = createXdsMetrics({ registry });
  const server = createGrpcSocketServer({ socketPath: tmp.path, logger });
  const sds = createSdsService({ source, attestor: createFakeAttestor(), logger, metrics, peerCredentials: server.peerCredentials, ...options });
  server.addService(sds.definition, sds.implementation);
  const ecds =
    options.extensions === undefined
      ? undefined
      : createEcdsService({ source: options.extensions, attestor: createFakeAttestor(), logger, metrics, peerCredentials: server.peerCredentials });
  if (ecds !== undefined) server.addService(ecds.definition, ecds.implementation);
  await server.start();
  return {
    socketPath: tmp.path,
    server,
    sds,
    ecds,
    metrics,
    registry,
    logLines,
    async close() {
      sds.close();
      ecds?.close();
      await server.close(100);
      tmp.cleanup();
    },
  };
}

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 3000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
