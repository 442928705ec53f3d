// `spindle server run` and `spindle agent run` as real processes on temp dirs and sockets: the
// agent attests with a join token over the agent API (TLS 1.3, server verified with the bundle),
// a workload fetches its SVID through the Workload API (`spindle api fetch x509`), two other uids
// get only their own identities, a process of an unregistered uid gets PermissionDenied and no key
// material, `spindle explain` names the missing selector, `spindle agent envoys` lists a connected SDS client, the agent keeps serving its cached
// SVID while the server is down, and a restarted agent resumes with its saved SVID (the join token
// is single-use).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { joinTokenAgentId } from "../../src/ca/nodeattestors/index.js";
import { pemToDers } from "../../src/common/pem.js";
import { createBundle, createBundleSet, parseTrustDomain, validateX509Svid } from "../../src/spiffe/index.js";
import { BIN, runCli, startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { ackSotw, createSdsClient, decodeSecret, eventually, subscribeSotw } from "./sds-fixtures.js";
import { freePort } from "./helpers/ports.js";
import { startAgentProcess, type AgentProcess } from "./helpers/agent-process.js";

const TD = "example.org";
const dir = mkdtempSync(join(tmpdir(), "spindle-agent-it-"));
// Other uids must reach the public socket: every directory on its path is traversable.
chmodSync(dir, 0o755);
const serverAdmin = join(dir, "server-private", "admin.sock");
const publicSocket = join(dir, "public", "api.sock");
const agentAdmin = join(dir, "agent-private", "admin.sock");
const uid = process.getuid!();
const WORKLOAD_ID = `spiffe://${TD}/workload`;
// Workloads of other uids (the tests run as root in CI and spawn clients under these uids).
const OTHER_UIDS = [1001, 1002] as const;
const uidId = (u: number) => `spiffe://${TD}/uid-${u}`;
const NOBODY = 65534;
let port: number;
let server: ServerProcess;
let agent: AgentProcess;
let bundlePem: string;
let agentId: string;
let token: string;



const agentArgs = () => [
  "--config",
  join(dir, "agent.yaml"),
  "--server-address",
  `127.0.0.1:${port}`,
  "--join-token",
  token,
  "--trust-bundle",
  join(dir, "bundle.pem"),
];

async function ready(p: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${p}/ready`)).status === 200;
  } catch {
    return false;
  }
}

async function startServer(): Promise<ServerProcess> {
  return startServerProcess(["--config", join(dir, "server.yaml")]);
}

before(async () => {
  port = await freePort();
  mkdirSync(join(dir, "server-private"), { mode: 0o700 });
  writeFileSync(
    join(dir, "server.yaml"),
    [`trust_domain: ${TD}`, `data_dir: ${join(dir, "server")}`, `bind_address: 127.0.0.1:${port}`, `admin_socket: ${serverAdmin}`, "key_manager: disk", "health_address: 127.0.0.1:0", "log_level: debug"].join("\n"),
  );
  server = await startServer();
  const admin = (...a: string[]) => runCli([...a, "--admin-socket", serverAdmin]);
  const t = await admin("token", "generate", "--output", "json");
  assert.equal(t.status, 0, t.stderr);
  token = (JSON.parse(t.stdout) as { token: string }).token;
  agentId = joinTokenAgentId(parseTrustDomain(TD), token);
  const e = await admin("entry", "create", "--spiffe-id", WORKLOAD_ID, "--parent-id", agentId, "--selector", `unix:uid:${uid}`);
  assert.equal(e.status, 0, e.stderr);
  for (const u of OTHER_UIDS) {
    const o = await admin("entry", "create", "--spiffe-id", uidId(u), "--parent-id", agentId, "--selector", `unix:uid:${u}`);
    assert.equal(o.status, 0, o.stderr);
  }
  const b = await admin("bundle", "show");
  assert.equal(b.status, 0, b.stderr);
  bundlePem = b.stdout;
  writeFileSync(join(dir, "bundle.pem"), bundlePem);
  writeFileSync(
    join(dir, "agent.yaml"),
    [
      `trust_domain: ${TD}`,
      `socket_path: ${publicSocket}`,
      `admin_socket: ${agentAdmin}`,
      `data_dir: ${join(dir, "agent")}`,
      "health_address: 127.0.0.1:0",
      "sync_interval: 1s",
      "log_level: debug",
      // Overridden by --join-token and --server-address: flags win over the file.
      "server_addresses: [127.0.0.1:1]",
      "node_attestor: {join_token: {token: placeholder-token-000000}}",
    ].join("\n"),
  );
  agent = await startAgentProcess(agentArgs());
  await eventually(() => ready(agent.healthPort), 30_000);
});

after(async () => {
  await agent?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a registered workload fetches its X.509-SVID through the Workload API", async () => {
  const r = await runCli(["api", "fetch", "x509", "--socket-path", publicSocket, "--write", join(dir, "out")]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`SPIFFE ID: +${WORKLOAD_ID}`));
  const { readFileSync } = await import("node:fs");
  const chain = pemToDers(readFileSync(join(dir, "out", "svid.0.pem"), "utf8"), "CERTIFICATE");
  const bundle = createBundle({ trustDomain: parseTrustDomain(TD), x509Authorities: pemToDers(bundlePem, "CERTIFICATE") });
  const info = validateX509Svid(chain, createBundleSet([bundle]), { now: Date.now() });
  assert.equal(info.spiffeId.toString(), WORKLOAD_ID);
  assert.match(agent.output(), /node attested/);
  assert.match(agent.output(), new RegExp(`"agentId":"${agentId}"`));
});

/** Tests that run processes under other uids need root; in CI (root) they must run, never skip. */
function needsRoot(t: { skip(message: string): void }): boolean {
  if (uid === 0) return true;
  if (process.env["CI"] === "true") assert.fail(`this test needs root to run processes under other uids (running as uid ${uid} in CI)`);
  t.skip("needs root to run a process under another uid");
  return false;
}

/** Runs the CLI as another uid/gid (no supplementary groups: libuv drops them with setgid). */
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

test("two uids get only their own identities", async (t) => {
  if (!needsRoot(t)) return;
  const bundle = createBundleSet([createBundle({ trustDomain: parseTrustDomain(TD), x509Authorities: pemToDers(bundlePem, "CERTIFICATE") })]);
  const results = await Promise.all(OTHER_UIDS.map((u) => runCliAs(u, ["api", "fetch", "x509", "--socket-path", publicSocket, "--output", "json"])));
  results.forEach((r, i) => {
    const u = OTHER_UIDS[i]!;
    assert.equal(r.code, 0, `uid ${u}: ${r.stderr}`);
    const ctx = JSON.parse(r.stdout) as { svids: { spiffe_id: string; x509_svid_pem: string }[] };
    assert.deepEqual(
      ctx.svids.map((s) => s.spiffe_id),
      [uidId(u)],
      `uid ${u} is served exactly its own identity`,
    );
    const info = validateX509Svid(pemToDers(ctx.svids[0]!.x509_svid_pem, "CERTIFICATE"), bundle, { now: Date.now() });
    assert.equal(info.spiffeId.toString(), uidId(u), `uid ${u}: the certificate carries its own SPIFFE ID`);
    for (const other of [WORKLOAD_ID, ...OTHER_UIDS.filter((x) => x !== u).map(uidId)]) assert.doesNotMatch(r.stdout, new RegExp(other), `uid ${u} never sees ${other}`);
  });
  // The agent's view agrees: explain on a process of each uid names only that uid's identity.
  for (const u of OTHER_UIDS) {
    const sleeper = spawn("sleep", ["60"], { uid: u, gid: u, stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const x = await runCli(["explain", "--pid", String(sleeper.pid), "--admin-socket", agentAdmin, "--output", "json"]);
      assert.equal(x.status, 0, x.stderr);
      const e = JSON.parse(x.stdout) as { identities: { spiffeId: string }[] };
      assert.deepEqual(e.identities.map((i) => i.spiffeId), [uidId(u)], x.stdout);
    } finally {
      sleeper.kill();
    }
  }
});

test("an unregistered uid gets PermissionDenied and no key material; explain names the missing selector", async (t) => {
  if (!needsRoot(t)) return;
  const r = await runCliAs(NOBODY, ["api", "fetch", "x509", "--socket-path", publicSocket, "--output", "json"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /PERMISSION_DENIED|ERR_WORKLOAD_NO_IDENTITY/);
  assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY|BEGIN CERTIFICATE|svids/);

  const sleeper = spawn("sleep", ["60"], { uid: NOBODY, gid: NOBODY, stdio: "ignore" });
  try {
    await new Promise((r2) => setTimeout(r2, 200));
    const x = await runCli(["explain", "--pid", String(sleeper.pid), "--admin-socket", agentAdmin, "--output", "json"]);
    assert.equal(x.status, 0, x.stderr);
    const e = JSON.parse(x.stdout) as { selectors: string[]; identities: unknown[]; entries: { spiffeId: string; missing: string[] }[]; verdict: string };
    assert.ok(e.selectors.includes(`unix:uid:${NOBODY}`), e.selectors.join(","));
    assert.deepEqual(e.identities, []);
    assert.deepEqual(e.entries.find((x2) => x2.spiffeId === WORKLOAD_ID)?.missing, [`unix:uid:${uid}`]);
    for (const u of OTHER_UIDS) assert.deepEqual(e.entries.find((x2) => x2.spiffeId === uidId(u))?.missing, [`unix:uid:${u}`]);
    // Every entry misses one selector; whichever the verdict calls closest, it names that entry's.
    const closest = /no entry matches; closest is (\S+) .*missing selector (unix:uid:\d+)$/.exec(e.verdict);
    assert.ok(closest, e.verdict);
    assert.deepEqual(e.entries.find((x2) => x2.spiffeId === closest[1])?.missing, [closest[2]], e.verdict);
    const text = await runCli(["explain", "--pid", String(sleeper.pid), "--admin-socket", agentAdmin]);
    assert.match(text.stdout, /gets no identity \(PermissionDenied\)/);
  } finally {
    sleeper.kill();
  }
  const mine = await runCli(["explain", "--pid", String(process.pid), "--admin-socket", agentAdmin]);
  assert.match(mine.stdout, new RegExp(`pid ${process.pid} is served ${WORKLOAD_ID}`));
  assert.equal(mine.status, 0);
});

test("explain on a pid that does not exist says so and exits non-zero", async () => {
  // A pid above the kernel's pid_max (4194304 at most) never names a process.
  const gone = await runCli(["explain", "--pid", "4194305", "--admin-socket", agentAdmin]);
  assert.equal(gone.status, 1);
  assert.match(gone.stdout, /pid 4194305 cannot be attested/);
  assert.equal(gone.stderr, "error [ERR_WORKLOAD_ATTESTATION]: cannot attest pid 4194305: the process has exited\n");
  const json = await runCli(["explain", "--pid", "4194305", "--admin-socket", agentAdmin, "--output", "json"]);
  assert.equal(json.status, 1);
  assert.equal((JSON.parse(json.stdout) as { attestationError: { code: string } }).attestationError.code, "ERR_WORKLOAD_ATTESTATION");
});

test("agent envoys lists a connected SDS client and what it ACKed", async () => {
  const empty = await runCli(["agent", "envoys", "--admin-socket", agentAdmin]);
  assert.equal(empty.status, 0, empty.stderr);
  const client = createSdsClient(publicSocket);
  try {
    const stream = subscribeSotw(client, "default");
    const res = await stream.next();
    assert.equal(decodeSecret(res.resources[0]!).name, "default");
    ackSotw(stream, res, "default");
    const listed = await eventually(async () => {
      const r = await runCli(["agent", "envoys", "--admin-socket", agentAdmin, "--output", "json"]);
      const j = JSON.parse(r.stdout) as { envoys: { resources: { resource: string; ackedVersion?: string }[] }[] };
      return j.envoys[0]?.resources.find((x) => x.resource === "default" && x.ackedVersion !== undefined) ? j : undefined;
    }, 10_000);
    assert.equal(listed.envoys.length, 1);
    const text = await runCli(["agent", "envoys", "--admin-socket", agentAdmin]);
    assert.match(text.stdout, /SDS default: sent .*ACKed/);
    stream.close();
  } finally {
    client.close();
  }
});

test("server down: cached SVIDs are still served; restarted agent resumes with its saved SVID", async () => {
  assert.equal(await server.stop(), 0);
  const r = await runCli(["api", "fetch", "x509", "--socket-path", publicSocket]);
  assert.equal(r.status, 0, `${r.stderr}\nagent output (last 4 KB):\n${agent.output().slice(-4096)}`);
  assert.match(r.stdout, new RegExp(WORKLOAD_ID));
  await eventually(() => /server unreachable|no server answered/.test(agent.output()), 15_000);

  server = await startServer();
  assert.equal(await agent.stop("SIGINT"), 0, "SIGINT stops the agent cleanly");
  // The join token was consumed; the restart must use the saved agent SVID, not attest again.
  agent = await startAgentProcess(agentArgs());
  await eventually(() => /using the saved agent SVID/.test(agent.output()), 10_000);
  await eventually(() => ready(agent.healthPort), 30_000);
  const again = await runCli(["api", "fetch", "x509", "--socket-path", publicSocket]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(WORKLOAD_ID));
});
