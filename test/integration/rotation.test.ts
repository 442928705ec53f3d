// SVID rotation with real `spindle server run` and `spindle agent run` processes and a 22 s
// X.509-SVID TTL. Leaves are backdated 10 s (LEAF_BACKDATE_MS), so an SVID lives 32 s and the agent
// renews it at notBefore + 16 s +-10% (docs/design/wire-facts.md, "Rotation and sync numbers"),
// about 6 s after issuance. A client watching FetchX509SVID must get a new serial within that bound
// (plus the 1 s sync tick and a margin) three times in a row. Then the server is stopped across a
// renewal: the agent keeps serving the cached SVID and logs the failure; the server restarts on the
// same data dir and port, and rotation resumes before the cached SVID expires.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createWorkloadApiClient, type WorkloadApiClient, type X509Context } from "../../src/workload-client/index.js";
import { joinTokenAgentId } from "../../src/ca/nodeattestors/index.js";
import { parseTrustDomain } from "../../src/spiffe/index.js";
import { BIN, runCli, startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { freePort } from "./helpers/ports.js";

const TD = "example.org";
const WORKLOAD_ID = `spiffe://${TD}/rotating`;
const SVID_TTL_S = 22;
const SYNC_INTERVAL_MS = 1_000;
/** Signing, delivery and a loaded CI machine, on top of the sync tick. */
const MARGIN_MS = 2_500;
const dir = mkdtempSync(join(tmpdir(), "spindle-rotation-it-"));
const serverAdmin = join(dir, "server-private", "admin.sock");
const publicSocket = join(dir, "public", "api.sock");

const children: { stop(): Promise<unknown> }[] = [];
after(async () => {
  for (const c of children.reverse()) await c.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  serial: string;
  notBefore: number;
  notAfter: number;
  /** When the watching client received it. */
  at: number;
}

function leafOf(ctx: X509Context): Seen {
  const svid = ctx.svids.find((s) => s.spiffeId === WORKLOAD_ID);
  assert.ok(svid, `the update carries ${WORKLOAD_ID}`);
  const c = new X509Certificate(svid.chainDer[0]!);
  return { serial: c.serialNumber, notBefore: Date.parse(c.validFrom), notAfter: Date.parse(c.validTo), at: Date.now() };
}

/** The latest moment the agent may deliver the successor of `s`: half-life + 10% jitter. */
const renewBy = (s: Seen) => s.notBefore + 0.55 * (s.notAfter - s.notBefore) + SYNC_INTERVAL_MS + MARGIN_MS;
/** The earliest: half-life - 10% jitter (certificate times are whole seconds, hence the 1 s). */
const renewNotBefore = (s: Seen) => s.notBefore + 0.45 * (s.notAfter - s.notBefore) - 1_000;

function startAgent(args: readonly string[]): Promise<{ child: ChildProcess; output(): string; stop(): Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "agent", "run", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`agent did not start:\n${out}`))), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/spindle agent: attested as/.test(out)) {
        clearTimeout(timer);
        resolve({ child, output: () => out, stop: async () => (child.exitCode === null && child.kill("SIGTERM"), exited) });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => (clearTimeout(timer), reject(new Error(`agent exited with ${code}:\n${out}`))));
  });
}

test("a watching client gets three rotations in a row; the agent rides out a server outage and rotation resumes", { timeout: 120_000 }, async () => {
  const port = await freePort();
  mkdirSync(join(dir, "server-private"), { mode: 0o700 });
  const serverConfig = join(dir, "server.yaml");
  writeFileSync(
    serverConfig,
    [
      `trust_domain: ${TD}`,
      `data_dir: ${join(dir, "server")}`,
      `bind_address: 127.0.0.1:${port}`,
      `admin_socket: ${serverAdmin}`,
      "health_address: 127.0.0.1:0",
      // x509_svid_ttl must be <= ca_ttl / 6; the agent's own SVID stays long-lived so that only
      // workload SVIDs rotate here.
      "ca_ttl: 1h",
      `x509_svid_ttl: ${SVID_TTL_S}s`,
      "agent_api: {agent_svid_ttl: 10m}",
    ].join("\n"),
  );
  let server: ServerProcess = await startServerProcess(["--config", serverConfig]);
  children.push({ stop: () => server.stop() });
  const admin = (...a: string[]) => runCli([...a, "--admin-socket", serverAdmin]);
  const t = await admin("token", "generate", "--output", "json");
  assert.equal(t.status, 0, t.stderr);
  const token = (JSON.parse(t.stdout) as { token: string }).token;
  const agentId = joinTokenAgentId(parseTrustDomain(TD), token);
  const e = await admin("entry", "create", "--spiffe-id", WORKLOAD_ID, "--parent-id", agentId, "--selector", `unix:uid:${process.getuid!()}`);
  assert.equal(e.status, 0, e.stderr);
  const b = await admin("bundle", "show");
  assert.equal(b.status, 0, b.stderr);
  writeFileSync(join(dir, "bundle.pem"), b.stdout);
  const agentConfig = join(dir, "agent.yaml");
  writeFileSync(
    agentConfig,
    [
      `trust_domain: ${TD}`,
      `server_addresses: [127.0.0.1:${port}]`,
      `socket_path: ${publicSocket}`,
      'admin_socket: ""',
      `data_dir: ${join(dir, "agent")}`,
      `trust_bundle: ${join(dir, "bundle.pem")}`,
      'health_address: ""',
      `sync_interval: ${SYNC_INTERVAL_MS / 1000}s`,
      // debug: every failed retry is logged with its delay.
      "log_level: debug",
      `node_attestor: {join_token: {token: ${token}}}`,
    ].join("\n"),
  );
  const agent = await startAgent(["--config", agentConfig]);
  children.push(agent);

  const client: WorkloadApiClient = createWorkloadApiClient({ address: publicSocket });
  children.push({ stop: async () => client.close() });
  const seen: Seen[] = [];
  let watchError: Error | undefined;
  const waiters = new Set<() => void>();
  const watch = (): void => {
    client.watchX509Context(
      (ctx) => {
        const s = leafOf(ctx);
        if (seen.at(-1)?.serial !== s.serial) seen.push(s);
        for (const w of waiters) w();
      },
      // Until the first sync the agent answers Unavailable: retry; later errors fail the test.
      (err) => (seen.length === 0 ? setTimeout(watch, 200) : ((watchError = err), waiters.forEach((w) => w()))),
    );
  };
  watch();
  /** Resolves with the first SVID after `prev` (by serial), or rejects at `deadline`. */
  const next = (prev: Seen | undefined, deadline: number, what: string): Promise<Seen> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (watchError) return done(() => reject(watchError));
        const i = prev === undefined ? 0 : seen.findIndex((s) => s.serial === prev.serial) + 1;
        const s = seen[i];
        if (s !== undefined) done(() => resolve(s));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${what}: no new SVID by ${new Date(deadline).toISOString()}\n${agent.output().slice(-3000)}`))), Math.max(0, deadline - Date.now()));
      const done = (f: () => void) => (clearTimeout(timer), waiters.delete(check), f());
      waiters.add(check);
      check();
    });

  let current = await next(undefined, Date.now() + 30_000, "first SVID");
  for (let i = 1; i <= 3; i++) {
    const s = await next(current, renewBy(current) + 2_000, `rotation ${i}`);
    assert.ok(s.at <= renewBy(current), `rotation ${i} arrived ${s.at - renewBy(current)} ms after half-life + 10% jitter + margin`);
    assert.ok(s.at >= renewNotBefore(current), `rotation ${i} arrived ${renewNotBefore(current) - s.at} ms before half-life - 10% jitter`);
    assert.ok(s.notAfter > current.notAfter, `rotation ${i} extends the validity`);
    current = s;
  }

  // Outage: the server is down across the next renewal (it is back only after the latest moment the
  // agent could have renewed), and comes back before the agent's backoff (1, 2, 4, 8 s +-20%)
  // schedules its retry at about 15 s after the first failure, well before the cached SVID expires.
  const cached = current;
  assert.equal(await server.stop("SIGKILL"), null, "the server was killed");
  const renewalDueBy = cached.notBefore + 0.55 * (cached.notAfter - cached.notBefore);
  // Relaunched only once the renewal is overdue, however fast this machine starts a server.
  await new Promise((r) => setTimeout(r, Math.max(0, renewalDueBy + 100 - Date.now())));
  const fetched = await client.fetchX509Context();
  assert.equal(leafOf(fetched).serial, cached.serial, "the agent keeps serving the cached SVID while the server is down");
  assert.match(agent.output(), /sync with the server failed; backing off with jitter and serving cached SVIDs until they expire/);
  server = await startServerProcess(["--config", serverConfig]);
  const backAt = Date.now();
  assert.ok(backAt >= renewalDueBy, `the server was down across a renewal (back ${renewalDueBy - backAt} ms before it was due)`);
  assert.equal(seen.at(-1)!.serial, cached.serial, "no SVID was issued while the server was down");

  const resumed = await next(cached, cached.notAfter - 500, "rotation after the outage");
  assert.ok(resumed.at < cached.notAfter, "rotation resumed before the cached SVID expired");
  // Logged once the round that renewed it completes, just after the push.
  const recoveredBy = Date.now() + 5_000;
  while (!/server reachable again: sync resumed/.test(agent.output()) && Date.now() < recoveredBy) await new Promise((r) => setTimeout(r, 100));
  assert.match(agent.output(), /server reachable again: sync resumed/);
  const steady = await next(resumed, renewBy(resumed) + 2_000, "rotation after recovery");
  assert.ok(steady.at <= renewBy(resumed), `the first regular rotation after the outage arrived ${steady.at - renewBy(resumed)} ms late`);
});
