// The agent's observability against real `spindle server run` and `spindle agent run` processes:
// after a Workload API fetch by a registered uid and a refused one by another uid, /metrics counts
// both calls and both attestation outcomes with their labels (docs/metrics.md), and `spindle agent
// healthcheck` exits 0 while the agent runs and 1 once it has stopped (docs/commands/agent.md).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { joinTokenAgentId } from "../../src/ca/nodeattestors/index.js";
import { parseTrustDomain } from "../../src/spiffe/index.js";
import { BIN, runCli, startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { startAgentProcess, type AgentProcess } from "./helpers/agent-process.js";
import { freePort } from "./helpers/ports.js";
import { eventually } from "./sds-fixtures.js";

const TD = "example.org";
const dir = mkdtempSync(join(tmpdir(), "spindle-agent-metrics-"));
// The refused workload runs under another uid: every directory on the socket's path is traversable.
chmodSync(dir, 0o755);
const serverAdmin = join(dir, "server-private", "admin.sock");
const publicSocket = join(dir, "public", "api.sock");
const agentAdmin = join(dir, "agent-private", "admin.sock");
const uid = process.getuid!();
const NOBODY = 65534;
const WORKLOAD_ID = `spiffe://${TD}/metrics-workload`;
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

/** Runs the CLI as another uid/gid. */
function runCliAs(u: number, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { uid: u, gid: u, cwd: dir, env: { ...process.env, HOME: dir }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The value of the sample `name{labels}` (labels in the order prom-client prints them), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const healthcheck = (...extra: string[]) => runCli(["agent", "healthcheck", "--admin-socket", agentAdmin, ...extra]);

test("/metrics counts a granted and a refused Workload API fetch; agent healthcheck follows the agent's life", async (t) => {
  if (uid !== 0) {
    if (process.env["CI"] === "true") assert.fail(`this test needs root to run a process under another uid (running as uid ${uid} in CI)`);
    t.skip("needs root to run a process under another uid");
    return;
  }
  const a = agent!;
  // Up and past its first sync: exit 0, and the JSON says so.
  await eventually(async () => (await healthcheck()).status === 0, 30_000);
  const ok = await healthcheck("--output", "json");
  assert.equal(ok.status, 0, ok.stderr);
  const okJson = JSON.parse(ok.stdout) as { ready: boolean; reason?: string; agentId: string; entries: number };
  assert.equal(okJson.ready, true);
  assert.equal(okJson.reason, undefined);
  assert.match(okJson.agentId, /^spiffe:\/\/example\.org\/spindle\/agent\/join_token\//);
  assert.equal(okJson.entries, 1);

  const granted = await runCli(["api", "fetch", "x509", "--socket-path", publicSocket, "--output", "json"]);
  assert.equal(granted.status, 0, granted.stderr);
  assert.match(granted.stdout, new RegExp(WORKLOAD_ID));
  const refused = await runCliAs(NOBODY, ["api", "fetch", "x509", "--socket-path", publicSocket, "--output", "json"]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /PERMISSION_DENIED: no identity issued/);

  const res = await fetch(`http://127.0.0.1:${a.healthPort}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const granted1 = sample(text, 'spindle_agent_workload_attestations_total{service="workload_api",outcome="granted"}');
  const noEntry = sample(text, 'spindle_agent_workload_attestations_total{service="workload_api",outcome="no_entry"}');
  assert.equal(granted1, 1, text);
  assert.equal(noEntry, 1, text);
  // The refused call ended PERMISSION_DENIED; the granted stream ended when the CLI went away.
  assert.equal(sample(text, 'spindle_agent_rpc_calls_total{service="workload_api",method="FetchX509SVID",code="PERMISSION_DENIED"}'), 1, text);
  const grantedEnds = ["OK", "CANCELLED"].map((c) => sample(text, `spindle_agent_rpc_calls_total{service="workload_api",method="FetchX509SVID",code="${c}"}`) ?? 0);
  assert.equal(grantedEnds[0]! + grantedEnds[1]!, 1, text);
  assert.equal(sample(text, 'spindle_agent_rpc_duration_seconds_count{service="workload_api",method="FetchX509SVID",code="PERMISSION_DENIED"}'), 1, text);
  assert.equal(sample(text, 'spindle_agent_rpc_streams_open{service="workload_api",method="FetchX509SVID"}'), 0, text);
  // Sync, SVIDs and readiness from the same scrape.
  assert.ok((sample(text, 'spindle_agent_sync_duration_seconds_count{result="ok"}') ?? 0) >= 1, text);
  assert.ok((sample(text, 'spindle_agent_svid_rotations_total{kind="workload"}') ?? 0) >= 1, text);
  const soonest = sample(text, `spindle_agent_workload_svid_soonest_expiry_seconds{spiffe_id="${WORKLOAD_ID}"}`);
  assert.ok(soonest !== undefined && soonest > 0, text);
  assert.equal(sample(text, "spindle_agent_ready"), 1, text);

  // Stopped: the admin socket is gone, exit 1 with the reason.
  assert.equal(await a.stop(), 0);
  agent = undefined;
  const down = await healthcheck("--output", "json");
  assert.equal(down.status, 1, down.stdout + down.stderr);
  const downJson = JSON.parse(down.stdout) as { ready: boolean; reason: string; code: string };
  assert.equal(downJson.ready, false);
  assert.equal(downJson.code, "ERR_AGENT_ADMIN_UNREACHABLE");
  assert.match(downJson.reason, /cannot reach the agent admin socket/);
  const downText = await healthcheck();
  assert.equal(downText.status, 1);
  assert.match(downText.stderr, /^error \[ERR_AGENT_ADMIN_UNREACHABLE\]: /);
});
