// The fuzz client of socket.fuzz.test.ts, run as its own process (as an unregistered uid when the
// suite runs as root). argv: <socket path>. Reads batches from stdin, one line each:
// `<surface> <count> <seed>`, and answers each with one JSON line {inputs, accepted, connections};
// `accepted` counts inputs the agent answered with a message or an OK status.
// Surfaces: raw-bytes, h2-frames, and protobuf to every method of one service (workload-api, sds,
// ecds); socket surfaces put many inputs on one connection.
import net from "node:net";
import { create, toBinary, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { DeltaDiscoveryRequestSchema, DiscoveryRequestSchema } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ExtensionConfigDiscoveryService } from "../../src/gen/envoy/service/extension/v3/config_discovery_pb.js";
import { SecretDiscoveryService } from "../../src/gen/envoy/service/secret/v3/sds_pb.js";
import { JWTBundlesRequestSchema, JWTSVIDRequestSchema, SpiffeWorkloadAPI, ValidateJWTSVIDRequestSchema, X509BundlesRequestSchema, X509SVIDRequestSchema } from "../../src/gen/workload_pb.js";
import { FLAG, FRAME, PREFACE, frame, grpcMessage, literalBlock } from "./harness.js";
import { createRng, mutateBytes, type Rng } from "./mutate.js";

const socketPath = process.argv[2] ?? "";
let count = 0;
let rng: Rng = createRng(0);

const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const ECDS_TYPE = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
const node = { id: "fuzz-envoy", cluster: "fuzz" };
const xdsSeeds = (typeUrl: string, names: string[]) => [
  toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node, typeUrl, resourceNames: names })),
  toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node, typeUrl, resourceNames: names, versionInfo: "1", responseNonce: "1" })),
  toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { node, typeUrl, resourceNamesSubscribe: names })),
];
const services: Record<string, { service: DescService; seeds: Uint8Array[]; header: boolean }> = {
  "workload-api": {
    service: SpiffeWorkloadAPI,
    header: true,
    seeds: [
      toBinary(X509SVIDRequestSchema, create(X509SVIDRequestSchema)),
      toBinary(X509BundlesRequestSchema, create(X509BundlesRequestSchema)),
      toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience: ["db", "cache"], spiffeId: "spiffe://example.org/registered" })),
      toBinary(JWTBundlesRequestSchema, create(JWTBundlesRequestSchema)),
      toBinary(ValidateJWTSVIDRequestSchema, create(ValidateJWTSVIDRequestSchema, { audience: "db", svid: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln" })),
    ],
  },
  sds: { service: SecretDiscoveryService, header: false, seeds: xdsSeeds(SECRET_TYPE, ["default", "ROOTCA", "spiffe://example.org/registered"]) },
  ecds: { service: ExtensionConfigDiscoveryService, header: false, seeds: xdsSeeds(ECDS_TYPE, ["spindle.rbac.inbound", "other"]) },
};

let accepted = 0;
let connections = 0;

/** One connection carrying `chunks`, written until the agent hangs up; resolves how many were written. */
function connection(chunks: Buffer[]): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    let written = 0;
    let closed = false;
    const timer = setTimeout(() => s.destroy(), 10_000);
    s.on("error", () => {});
    s.on("data", () => {});
    s.on("close", () => {
      closed = true;
      clearTimeout(timer);
      // Only chunks written before the agent hung up count as inputs.
      resolve(written);
    });
    const writeNext = () => {
      if (closed) return;
      if (written === chunks.length) {
        // Half-close (the agent sees EOF) or reset; a half-closed connection the agent keeps
        // open (an HTTP/2 session may outlive its client's FIN) is reset shortly after.
        if (rng.int(2) === 0) {
          s.end();
          setTimeout(() => s.destroy(), 50);
        } else s.destroy();
        return;
      }
      s.write(chunks[written++]!);
      if (rng.int(4) === 0) setImmediate(writeNext);
      else writeNext();
    };
    s.on("connect", writeNext);
  });
}

const PATHS = [...Object.values(services)].flatMap(({ service }) => service.methods.map((m) => `/${service.typeName}/${m.name}`));

function randomFrame(r: Rng, streams: number[]): Buffer {
  const stream = r.int(5) === 0 ? r.int(2 ** 31) : r.pick(streams);
  const headers: [string, string][] = [
    [":method", r.pick(["POST", "GET", "CONNECT", ""])],
    [":scheme", r.pick(["http", "https", ""])],
    [":path", r.pick([...PATHS, "/", "", "*"])],
    [":authority", r.pick([socketPath, "localhost", "/", "a b", ""])],
  ];
  if (r.int(2) === 0) headers.push(["content-type", r.pick(["application/grpc", "application/grpc+proto", "text/plain", ""])]);
  if (r.int(2) === 0) headers.push(["workload.spiffe.io", "true"]);
  if (r.int(4) === 0) headers.push(["te", "trailers"]);
  if (r.int(6) === 0) headers.push([r.pick(["content-length", "grpc-timeout", "grpc-encoding", "connection"]), r.pick(["0", "5", "1S", "gzip", "x"])]);
  const flags = r.int(256);
  switch (r.int(10)) {
    case 0:
    case 1:
      return frame(FRAME.HEADERS, flags | (r.int(3) === 0 ? 0 : FLAG.END_HEADERS), stream, literalBlock(headers));
    case 2:
      return frame(FRAME.DATA, flags & 0x9, stream, r.int(2) === 0 ? grpcMessage(r.bytes(r.int(64))) : r.bytes(r.int(64)));
    case 3:
      return frame(FRAME.RST_STREAM, 0, stream, r.bytes(4));
    case 4:
      return frame(FRAME.SETTINGS, r.int(2), 0, r.bytes(6 * r.int(4)));
    case 5:
      return frame(FRAME.WINDOW_UPDATE, 0, r.int(2) === 0 ? 0 : stream, r.bytes(4));
    case 6:
      return frame(FRAME.CONTINUATION, flags, stream, r.int(2) === 0 ? literalBlock(headers.slice(0, 1)) : r.bytes(r.int(32)));
    case 7:
      return frame(r.pick([FRAME.PRIORITY, FRAME.PING, FRAME.GOAWAY, FRAME.PUSH_PROMISE, 0x0a, 0xff]), flags, stream, r.bytes(r.int(16)));
    case 8:
      // A frame that claims more payload than it carries (cut by the next frame or the hang-up).
      return frame(FRAME.DATA, 0, stream, r.bytes(40)).subarray(0, 9 + r.int(30));
    default:
      return mutateBytes(r, frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, literalBlock(headers)));
  }
}

/** A frame of an ordinary-looking request on `stream`, its headers or body malformed. */
function streamFrame(r: Rng, stream: number): Buffer {
  const headers: [string, string][] = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", r.pick(PATHS)],
    [":authority", r.pick([socketPath, "localhost"])],
  ];
  if (r.int(3) > 0) headers.push(["content-type", r.pick(["application/grpc", "text/plain", "application/grpc+json"])]);
  if (r.int(2) === 0) headers.push(["workload.spiffe.io", "true"]);
  switch (r.int(4)) {
    case 0:
      return frame(FRAME.HEADERS, FLAG.END_HEADERS | (r.int(3) === 0 ? FLAG.END_STREAM : 0), stream, literalBlock(headers));
    case 1:
      return Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, literalBlock(headers)), frame(FRAME.DATA, r.int(2), stream, grpcMessage(r.bytes(r.int(48))))]);
    case 2:
      return Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, literalBlock(headers)), frame(FRAME.RST_STREAM, 0, stream, Buffer.from([0, 0, 0, r.int(14)]))]);
    default:
      return Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, literalBlock(headers)), frame(FRAME.DATA, 0, stream, Buffer.from([0, 0, 0, 0, 200, 1, 2]))]);
  }
}

async function socketSurface(makeConnection: () => Buffer[]): Promise<number> {
  let sent = 0;
  const concurrency = 64;
  const worker = async () => {
    while (sent < count) {
      connections++;
      const written = await connection(makeConnection());
      sent += written;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return sent;
}

async function protobufSurface(name: string): Promise<number> {
  const { service, seeds, header } = services[name]!;
  const identity = (b: Buffer) => b;
  const definition: grpc.ServiceDefinition = Object.fromEntries(
    service.methods.map((m) => [
      m.localName,
      {
        path: `/${service.typeName}/${m.name}`,
        requestStream: m.methodKind === "bidi_streaming" || m.methodKind === "client_streaming",
        responseStream: m.methodKind === "bidi_streaming" || m.methodKind === "server_streaming",
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    ]),
  );
  const Client = grpc.makeGenericClientConstructor(definition, service.typeName);
  // A few channels, each one connection carrying thousands of streams.
  const clients = Array.from({ length: 8 }, () => new Client(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as Record<string, (...a: unknown[]) => unknown> & grpc.Client);
  const methods = service.methods;
  let sent = 0;
  const call = (): Promise<void> => {
    const method = rng.pick(methods);
    const client = rng.pick(clients);
    const body = mutateBytes(rng, rng.pick(seeds), seeds);
    const md = new grpc.Metadata();
    if (header || rng.int(8) === 0) md.set("workload.spiffe.io", "true");
    const opts = { deadline: Date.now() + 10_000 };
    return new Promise((resolve) => {
      const fn = client[method.localName]!.bind(client);
      if (method.methodKind === "unary") {
        fn(body, md, opts, (err: grpc.ServiceError | null) => {
          if (err === null) accepted++;
          resolve();
        });
        return;
      }
      const stream = (method.methodKind === "server_streaming" ? fn(body, md, opts) : fn(md, opts)) as grpc.ClientDuplexStream<Buffer, Buffer>;
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        if (ok) accepted++;
        stream.cancel();
        resolve();
      };
      stream.on("data", () => finish(true));
      stream.on("error", () => finish(false));
      stream.on("end", () => finish(false));
      stream.on("status", (s: grpc.StatusObject) => finish(s.code === grpc.status.OK));
      if (method.methodKind === "bidi_streaming") {
        stream.write(body);
        if (rng.int(3) === 0) stream.write(mutateBytes(rng, rng.pick(seeds), seeds));
        // An xDS stream that decodes stays open until the agent answers; ending our side is fine.
        if (rng.int(2) === 0) stream.end();
      }
      // A decodable request the agent keeps open without an answer (an unknown resource) is
      // cancelled after a short wait; the agent must clean it up.
      setTimeout(() => finish(false), 200).unref();
    });
  };
  const worker = async () => {
    while (sent < count) {
      sent++;
      await call();
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  for (const c of clients) c.close();
  return sent;
}

async function batch(surface: string): Promise<number> {
  let inputs: number;
  if (surface === "raw-bytes") {
    inputs = await socketSurface(() => {
      const n = 1 + rng.int(16);
      const chunks = [rng.int(2) === 0 ? PREFACE : mutateBytes(rng, PREFACE)];
      for (let i = 1; i < n; i++) chunks.push(rng.int(3) === 0 ? rng.bytes(rng.int(256)) : mutateBytes(rng, randomFrame(rng, [1, 3, 5])));
      return chunks;
    });
  } else if (surface === "h2-frames") {
    inputs = await socketSurface(() => {
      const n = 2 + rng.int(48);
      const chunks = [Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)])];
      let next = 1;
      for (let i = 1; i < n; i++) {
        // Several frames in one write reach nghttp2 in one read (the race of a stream reset in
        // the chunk that opened it). Mostly new streams, so the connection lives on; now and
        // then a frame that is a connection error.
        const stream = next;
        next += 2;
        chunks.push(Buffer.concat(Array.from({ length: 1 + rng.int(4) }, () => (rng.int(12) === 0 ? randomFrame(rng, [stream, stream + 2]) : streamFrame(rng, stream)))));
      }
      return chunks;
    });
  } else if (surface in services) {
    inputs = await protobufSurface(surface);
  } else {
    throw new Error(`unknown surface ${surface}`);
  }
  return inputs;
}

let queue = Promise.resolve();
let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text: string) => {
  pending += text;
  for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
    const [surface = "", n = "0", seed = "0"] = pending.slice(0, nl).trim().split(" ");
    pending = pending.slice(nl + 1);
    queue = queue.then(async () => {
      count = Number(n);
      rng = createRng(Number(seed));
      accepted = 0;
      connections = 0;
      const inputs = await batch(surface);
      process.stdout.write(`${JSON.stringify({ inputs, accepted, connections })}\n`);
    });
  }
});
process.stdin.on("end", () => void queue.then(() => process.exit(0)));
