// The agent's log at info against real `spindle server run` and `spindle agent run` processes
// (docs/logging.md): short-lived clients on fresh connections, some hanging up mid-stream the way
// Go clients do (a PING then a closed socket, so the agent's PING ack hits EPIPE), leave no stack
// trace and no warning; a burst of grants from one caller is ONE "identity granted" line and a
// burst of refusals from an unregistered uid ONE "identity refused" line; after the window the
// next line of each says how many were left out.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { joinTokenAgentId } from "../../src/ca/nodeattestors/index.js";
import { JWTSVIDRequestSchema } from "../../src/gen/workload_pb.js";
import { parseTrustDomain } from "../../src/spiffe/index.js";
import { BIN, runCli, startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { startAgentProcess, type AgentProcess } from "./helpers/agent-process.js";
import { freePort } from "./helpers/ports.js";
import { eventually } from "./sds-fixtures.js";

const TD = "example.org";
/** The agent's identity_log_window: long enough for a burst under load, short enough to wait out. */
const WINDOW_S = 30;
const dir = mkdtempSync(join(tmpdir(), "spindle-agent-logs-"));
// The refused workload runs under another uid: every directory on the socket's path is traversable.
chmodSync(dir, 0o755);
const serverAdmin = join(dir, "server-private", "admin.sock");
const publicSocket = join(dir, "public", "api.sock");
const agentAdmin = join(dir, "agent-private", "admin.sock");
const uid = process.getuid!();
const NOBODY = 65534;
const WORKLOAD_ID = `spiffe://${TD}/logs-workload`;
let server: ServerProcess;
let agent: AgentProcess | undefined;

before(async () => {
  const port = await freePort();
  mkdirSync(join(dir, "server-private"), { mode: 0o700 });
  writeFileSync(
    join(dir, "server.yaml"),
    [`trust_domain: ${TD}`, `data_dir: ${join(dir, "server")}`, `bind_address: 127.0.0.1:${port}`, `admin_socket: ${serverAdmin}`, "key_manager: memory", "health_address: 127.0.0.1:0"].join("\n"),
  );
  server = await startServerProcess(["--config", join(dir, "server.yaml")]);
  const admin = (...a: string[]) => runCli([...a, "--admin-socket", serverAdmin]);
  const t = await admin("token", "generate", "--output", "json");
  assert.equal(t.status, 0, t.stderr);
  const token = (JSON.parse(t.stdout) as { token: string }).token;
  const e = await admin("entry", "create", "--spiffe-id", WORKLOAD_ID, "--parent-id", joinTokenAgentId(parseTrustDomain(TD), token), "--selector", `unix:uid:${uid}`);
  assert.equal(e.status, 0, e.stderr);
  const b = await admin("bundle", "show");
  assert.equal(b.status, 0, b.stderr);
  writeFileSync(join(dir, "bundle.pem"), b.stdout);
  writeFileSync(
    join(dir, "agent.yaml"),
    [
      `trust_domain: ${TD}`,
      `server_addresses: [127.0.0.1:${port}]`,
      `socket_path: ${publicSocket}`,
      `admin_socket: ${agentAdmin}`,
      `data_dir: ${join(dir, "agent")}`,
      `trust_bundle: ${join(dir, "bundle.pem")}`,
      "health_address: 127.0.0.1:0",
      "sync_interval: 1s",
      "log_level: info",
      `identity_log_window: ${WINDOW_S}s`,
      `node_attestor: {join_token: {token: ${token}}}`,
    ].join("\n"),
  );
  agent = await startAgentProcess(["--config", join(dir, "agent.yaml")]);
});

after(async () => {
  await agent?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function runCliAs(u: number, args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { uid: u, gid: u, cwd: dir, env: { ...process.env, HOME: dir }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stderr }));
  });
}

type HangUp = "close" | "ping-and-destroy" | "destroy";

/**
 * One Workload API call on a fresh connection. The call ends when the first response message
 * arrives: "close" closes the HTTP/2 session politely, "ping-and-destroy" sends a PING and
 * closes the socket at once (the agent's ack then meets a closed pipe), "destroy" drops the socket.
 */
function callOnFreshConnection(path: string, body: Uint8Array, hangUp: HangUp): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(publicSocket);
    const session = http2.connect("http://localhost", { createConnection: () => socket });
    session.on("error", () => {});
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", "workload.spiffe.io": "true" });
    req.on("error", () => {});
    req.end(frame);
    const timer = setTimeout(() => reject(new Error(`${path}: no response within 20 s`)), 20_000);
    req.on("response", (headers) => {
      if (headers[":status"] !== 200) reject(new Error(`${path}: HTTP status ${headers[":status"]}`));
    });
    req.once("data", () => {
      clearTimeout(timer);
      if (hangUp === "close") session.close();
      else if (hangUp === "ping-and-destroy") {
        // PING frame: length 8, type 6, flags 0, stream 0, 8 bytes of opaque data.
        socket.write(Buffer.from([0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
        socket.destroy();
      } else socket.destroy();
      resolve();
    });
    req.on("trailers", (trailers) => {
      clearTimeout(timer);
      reject(new Error(`${path}: ended before a message: grpc-status ${String(trailers["grpc-status"])} ${String(trailers["grpc-message"])}`));
    });
  });
}

type Line = Record<string, unknown> & { level: string; msg: string };

function linesSince(offset: number): { text: string; lines: Line[] } {
  const text = agent!.output().slice(offset);
  const lines = text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);
  return { text, lines };
}

const X509 = "/SpiffeWorkloadAPI/FetchX509SVID";
const JWT = "/SpiffeWorkloadAPI/FetchJWTSVID";

test("at info: no stack or EPIPE for clients that hang up, one rate-limited line per grant and per refusal", async (t) => {
  if (uid !== 0) {
    if (process.env["CI"] === "true") assert.fail(`this test needs root to run a process under another uid (running as uid ${uid} in CI)`);
    t.skip("needs root to run a process under another uid");
    return;
  }
  await eventually(async () => (await runCli(["agent", "healthcheck", "--admin-socket", agentAdmin])).status === 0, 30_000);
  const offset = agent!.output().length;

  // The burst: 12 FetchX509SVID streams (a third of them hanging up the Go way), 2 FetchJWTSVID,
  // all from this process; 3 refused fetches by an unregistered uid, at the same time.
  const modes: HangUp[] = ["close", "ping-and-destroy", "destroy"];
  const refusedRuns = Promise.all([1, 2, 3].map(() => runCliAs(NOBODY, ["api", "fetch", "x509", "--socket-path", publicSocket])));
  for (let i = 0; i < 12; i++) await callOnFreshConnection(X509, new Uint8Array(), modes[i % 3]!);
  const jwtRequest = toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience: ["logs-test"] }));
  for (let i = 0; i < 2; i++) await callOnFreshConnection(JWT, jwtRequest, "close");
  for (const r of await refusedRuns) {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /PERMISSION_DENIED: no identity issued/);
  }
  // The agent's lines reach this process through a pipe, a moment after the answers.
  await eventually(() => linesSince(offset).lines.some((l) => l.msg === "identity refused"), 10_000);
  // More time for late lines (an EPIPE would be logged after the client went away).
  await new Promise((r) => setTimeout(r, 1_000));

  const burst = linesSince(offset);
  assert.doesNotMatch(burst.text, /"stack"/, "no stack trace at info");
  assert.doesNotMatch(burst.text, /EPIPE|ECONNRESET/, "a client hanging up is not news at info");
  const socketLines = burst.lines.filter((l) => ["agent-socket", "workload-api", "attestor", "workload-attestation"].includes(String(l["component"])));
  assert.deepEqual(socketLines, [], "per-call and per-connection lines are at debug");
  const grants = burst.lines.filter((l) => l.msg === "identity granted");
  const refusals = burst.lines.filter((l) => l.msg === "identity refused");
  const firstGrant = grants[0];
  const firstRefusal = refusals[0];
  const burstTookS = (Date.parse(String(burst.lines.at(-1)!["time"])) - Date.parse(String(burst.lines[0]!["time"]))) / 1000;
  assert.ok(burstTookS < WINDOW_S, `the burst took ${burstTookS} s, longer than the ${WINDOW_S} s window: the counts below would not be exact`);
  assert.equal(grants.length, 1, JSON.stringify(grants));
  assert.equal(refusals.length, 1, JSON.stringify(refusals));
  assert.deepEqual([firstGrant!["level"], firstGrant!["component"], firstGrant!["uid"], firstGrant!["pid"], firstGrant!["spiffeIds"], firstGrant!["spiffeIdCount"]], ["info", "identity", uid, process.pid, [WORKLOAD_ID], 1]);
  assert.equal(firstGrant!["suppressed"], undefined);
  assert.deepEqual([firstRefusal!["level"], firstRefusal!["uid"], firstRefusal!["code"], firstRefusal!["rpc"]], ["info", NOBODY, "ERR_WORKLOAD_NO_IDENTITY", "FetchX509SVID"]);
  assert.match(String(firstRefusal!["reason"]), /no registration entry matches/);
  assert.ok((firstRefusal!["selectors"] as string[]).includes(`unix:uid:${NOBODY}`), "the refusal names the selectors an entry would need");

  // After the window: the next line of each carries the count of the lines left out.
  const windowEnds = Math.max(Date.parse(String(firstGrant!["time"])), Date.parse(String(firstRefusal!["time"]))) + WINDOW_S * 1000;
  await new Promise((r) => setTimeout(r, Math.max(0, windowEnds - Date.now()) + 500));
  const offset2 = agent!.output().length;
  await callOnFreshConnection(X509, new Uint8Array(), "ping-and-destroy");
  const again = await runCliAs(NOBODY, ["api", "fetch", "x509", "--socket-path", publicSocket]);
  assert.equal(again.code, 1, again.stderr);
  await eventually(() => linesSince(offset2).lines.some((l) => l.msg === "identity refused"), 10_000);
  const next = linesSince(offset2).lines;
  assert.deepEqual(
    next.filter((l) => l.msg === "identity granted" || l.msg === "identity refused").map((l) => [l.msg, l["suppressed"]]),
    [
      ["identity granted", 13],
      ["identity refused", 2],
    ],
    "13 grants (11 streams, 2 JWT fetches) and 2 refusals were left out of the first window",
  );
});
