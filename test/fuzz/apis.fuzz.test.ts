// Mutated requests to the server's connect APIs, each on one HTTP/2 session carrying thousands of
// streams: the agent API over TLS with and without an attested agent's client certificate, and
// the admin API on its Unix socket, in the gRPC protocol and (unary methods) the Connect protocol
// with application/proto. Every answer must be a status from the registry (never INTERNAL: a
// mutated request is the caller's fault or a refusal) and the server must keep serving. The
// servers run in this process, so a crash fails the suite. FUZZ_COUNT inputs per surface.
import assert from "node:assert/strict";
import { connect as h2connect, type ClientHttp2Session } from "node:http2";
import { connect } from "node:net";
import { after, before, it } from "node:test";
import { create, toBinary, type DescMessage, type DescService } from "@bufbuild/protobuf";
import * as joinToken from "../../src/agent/nodeattestors/join-token/index.js";
import { attest, makeCsr, startHarness, type Harness } from "../support/agentapi-harness.js";
import { certsToPem } from "../../src/common/pem.js";
import { AdminService } from "../../src/gen/spindle/admin/v1/admin_pb.js";
import {
  AgentService,
  AttestRequestSchema,
  BatchSignX509SvidRequestSchema,
  MintJwtSvidRequestSchema,
  RenewAgentRequestSchema,
  SyncEntriesRequestSchema,
} from "../../src/gen/spindle/agent/v1/agent_pb.js";
import { startTestServer, type TestServer } from "../integration/helpers/server.js";
import { grpcMessage } from "./harness.js";
import { createRng, fuzzCount, fuzzSeed, mutateBytes, printSummary, result, type Rng, type SurfaceResult } from "./mutate.js";

const FUZZ_TOKEN = "fuzz_token_0123456789abcdefghij";
const seed = fuzzSeed();
const count = fuzzCount();
const results: SurfaceResult[] = [];
process.stdout.write(`fuzz apis: seed ${seed} (FUZZ_SEED=${seed} reproduces), ${count} inputs per surface\n`);

let h: Harness;
let srv: TestServer;
let agentIdentity: { chainDer: readonly Uint8Array[]; privateKey: import("node:crypto").KeyObject };
let csrDer: Buffer;

before(async () => {
  h = await startHarness({ attestationsPerSecond: 1e6, signingsPerSecond: 1e6 });
  await h.tokens.createJoinToken(FUZZ_TOKEN, h.clock.now() + 600_000);
  const { svid, privateKey } = await attest(h.client(), joinToken.createJoinTokenAgentAttestor({ token: FUZZ_TOKEN }));
  agentIdentity = { chainDer: svid.svid!.certChain, privateKey };
  csrDer = (await makeCsr({ uris: ["spiffe://example.org/w"] })).der;
  srv = await startTestServer();
});
after(async () => {
  await h?.close();
  await srv?.close();
  printSummary("apis", results);
});

function agentSeeds(): Uint8Array[] {
  return [
    toBinary(AttestRequestSchema, create(AttestRequestSchema, { step: { case: "params", value: { attestor: "join_token", payload: Buffer.from(FUZZ_TOKEN), csr: csrDer } } })),
    toBinary(AttestRequestSchema, create(AttestRequestSchema, { step: { case: "params", value: { attestor: "x509pop", payload: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), csr: csrDer } } })),
    toBinary(AttestRequestSchema, create(AttestRequestSchema, { step: { case: "params", value: { attestor: "k8s_psat", payload: Buffer.from(JSON.stringify({ cluster: "prod", token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln" })), csr: csrDer } } })),
    toBinary(AttestRequestSchema, create(AttestRequestSchema, { step: { case: "challengeResponse", value: Buffer.from("answer") } })),
    toBinary(RenewAgentRequestSchema, create(RenewAgentRequestSchema, { csr: csrDer })),
    toBinary(SyncEntriesRequestSchema, create(SyncEntriesRequestSchema, { known: { a: 1n }, pageToken: "x" })),
    toBinary(BatchSignX509SvidRequestSchema, create(BatchSignX509SvidRequestSchema, { requests: [{ entryId: "e1", csr: csrDer }] })),
    toBinary(MintJwtSvidRequestSchema, create(MintJwtSvidRequestSchema, { entryId: "e1", audience: ["db"] })),
  ];
}

function emptySeeds(service: DescService): Uint8Array[] {
  return service.methods.map((m) => toBinary(m.input as DescMessage, create(m.input as DescMessage)));
}

/** One request; resolves the grpc-status (gRPC) or the HTTP status (Connect). */
function request(session: ClientHttp2Session, path: string, body: Buffer, connectProtocol: boolean): Promise<string> {
  return new Promise((resolve) => {
    const headers = connectProtocol
      ? { ":method": "POST", ":path": path, "content-type": "application/proto", "connect-protocol-version": "1" }
      : { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
    const req = session.request(headers);
    let status = "none";
    req.on("response", (h) => {
      status = connectProtocol ? `http ${String(h[":status"])}` : String(h["grpc-status"] ?? status);
    });
    req.on("trailers", (t) => void (status = String(t["grpc-status"] ?? status)));
    req.on("data", () => {});
    req.on("close", () => resolve(status));
    req.on("error", () => resolve("stream error"));
    req.setTimeout(10_000, () => req.close());
    req.end(connectProtocol ? body : grpcMessage(body));
  });
}

async function fuzzApi(surface: string, open: () => ClientHttp2Session, service: DescService, seeds: Uint8Array[], stillServes: () => Promise<void>): Promise<void> {
  const rng: Rng = createRng((seed ^ surface.length * 2654435761) >>> 0);
  const start = Date.now();
  const statuses = new Map<string, number>();
  let sent = 0;
  let accepted = 0;
  const batches = 4;
  for (let b = 0; b < batches; b++) {
    const session = open();
    session.on("error", () => {});
    const goal = Math.ceil((count * (b + 1)) / batches);
    const worker = async () => {
      while (sent < goal) {
        sent++;
        const method = rng.pick(service.methods);
        const connectProtocol = method.methodKind === "unary" && rng.int(2) === 0;
        const status = await request(session, `/${service.typeName}/${method.name}`, mutateBytes(rng, rng.pick(seeds), seeds), connectProtocol);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === "0" || status === "http 200") accepted++;
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    session.close();
    await stillServes();
  }
  const seen = Object.fromEntries(statuses);
  process.stdout.write(`fuzz apis: ${surface} statuses ${JSON.stringify(seen)}\n`);
  assert.equal(statuses.get("13") ?? 0, 0, `${surface}: INTERNAL answers to mutated requests: ${JSON.stringify(seen)}`);
  assert.equal(statuses.get("http 500") ?? 0, 0, `${surface}: HTTP 500 answers to mutated requests: ${JSON.stringify(seen)}`);
  results.push(result(surface, sent, accepted, start, seed));
}

const agentApiSession = (withCert: boolean) => () =>
  h2connect(`https://127.0.0.1:${h.server.address.port}`, {
    ca: h.bundlePem(),
    checkServerIdentity: () => undefined,
    ...(withCert ? { cert: certsToPem(agentIdentity.chainDer), key: agentIdentity.privateKey.export({ type: "pkcs8", format: "pem" }) } : {}),
  });
const agentStillServes = async () => {
  const sync = await h.client(agentIdentity).syncEntries({});
  assert.ok(Array.isArray(sync.entries), "the agent API still answers an attested agent");
};

it("agent API without a client certificate", { timeout: 300_000 }, () => fuzzApi("agentapi-no-cert", agentApiSession(false), AgentService, agentSeeds(), agentStillServes));
it("agent API with an attested agent's certificate", { timeout: 300_000 }, () => fuzzApi("agentapi-mtls", agentApiSession(true), AgentService, agentSeeds(), agentStillServes));
it("admin API (gRPC and Connect)", { timeout: 300_000 }, async () => {
  const adminSession = () => h2connect("http://localhost", { createConnection: () => connect(srv.options.adminSocket) });
  await fuzzApi("admin-api", adminSession, AdminService, emptySeeds(AdminService), async () => {
    const s = adminSession();
    try {
      assert.equal(await request(s, "/spindle.admin.v1.AdminService/CountEntries", Buffer.alloc(0), false), "0", "the admin API still answers");
    } finally {
      s.close();
    }
  });
});
