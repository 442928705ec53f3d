// `npm run bench federation`: time from a peer's X.509 CA rotation to delivery to a watching
// workload. Real `spindle server run` processes for a.test and b.test (federated through b.test's
// https_spiffe bundle endpoint on loopback, refresh hint 1 s, `federation.refresh_floor: 1s`) and a
// real `spindle agent run` for a.test (sync_interval 1 s); the workload is one Workload API
// FetchX509SVID stream on a.test's agent (src/workload-client). Each round b.test prepares a
// new CA (`spindle authority prepare`) and the time from the command's start to the stream's
// message holding it is recorded; then b.test activates it, taints and revokes the old one, and the
// time to the message without the old CA is recorded too. The baseline, from the same run, is the
// documented bound: refresh hint + agent sync interval (docs/federation.md "Propagation to workloads").
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorkloadApiClient, type X509Context } from "../src/workload-client/client.js";
import { startAgentProcess, type AgentProcess } from "../test/integration/helpers/agent-process.js";
import { runCli, startServerProcess, type ServerProcess } from "../test/integration/helpers/cli-process.js";

const ROUNDS = 5;
const HINT_S = 1;
const SYNC_S = 1;
const uid = process.getuid!();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sha = (der: Uint8Array) => createHash("sha256").update(der).digest("hex");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export default async function bench(): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), "spindle-bench-fed-"));
  const processes: (ServerProcess | AgentProcess)[] = [];
  const sides = await Promise.all(
    ["a.test", "b.test"].map(async (td) => {
      const dir = join(root, td);
      mkdirSync(join(dir, "private"), { recursive: true, mode: 0o700 });
      return { td, dir, port: await freePort(), endpointPort: await freePort(), adminSocket: join(dir, "private", "admin.sock") };
    }),
  );
  const [a, b] = sides as [(typeof sides)[0], (typeof sides)[0]];
  const admin = async (s: typeof a, ...args: string[]) => {
    const r = await runCli([...args, "--admin-socket", s.adminSocket]);
    if (r.status !== 0) throw new Error(`${s.td}: spindle ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const fingerprints = async (s: typeof a) =>
    (JSON.parse(await admin(s, "bundle", "show", "--format", "spiffe")) as { keys: { use: string; x5c?: string[] }[] }).keys
      .filter((k) => k.use === "x509-svid")
      .map((k) => sha(Buffer.from(k.x5c![0]!, "base64")));
  const socket = join(a.dir, "public", "api.sock");
  let client: ReturnType<typeof createWorkloadApiClient> | undefined;
  try {
    for (const s of sides) {
      writeFileSync(
        join(s.dir, "server.yaml"),
        [
          `trust_domain: ${s.td}`,
          `data_dir: ${join(s.dir, "server")}`,
          `bind_address: 127.0.0.1:${s.port}`,
          `admin_socket: ${s.adminSocket}`,
          "key_manager: memory",
          "health_address: 127.0.0.1:0",
          "peer_refresh_interval: 1s",
          "log_level: warn",
          "federation:",
          "  refresh_floor: 1s",
          "  bundle_endpoint:",
          `    address: 127.0.0.1:${s.endpointPort}`,
          `    refresh_hint: ${HINT_S}s`,
        ].join("\n"),
      );
    }
    const servers = await Promise.all(sides.map((s) => startServerProcess(["--config", join(s.dir, "server.yaml")])));
    processes.push(...servers);
    writeFileSync(join(a.dir, "b-bootstrap.json"), await admin(b, "bundle", "show", "--format", "spiffe"));
    await admin(a, "federation", "create", "--trust-domain", b.td, "--bundle-endpoint-url", `https://127.0.0.1:${b.endpointPort}/`, "--bundle-endpoint-profile", "https_spiffe", "--endpoint-spiffe-id", `spiffe://${b.td}/spindle/server`, "--trust-domain-bundle-path", join(a.dir, "b-bootstrap.json"));
    const t = JSON.parse(await admin(a, "token", "generate", "--output", "json")) as { token: string; agentId: string };
    await admin(a, "entry", "create", "--spiffe-id", `spiffe://${a.td}/workload`, "--parent-id", t.agentId, "--selector", `unix:uid:${uid}`, "--federates-with", b.td);
    writeFileSync(join(a.dir, "bundle.pem"), await admin(a, "bundle", "show", "--format", "pem"));
    writeFileSync(
      join(a.dir, "agent.yaml"),
      [`trust_domain: ${a.td}`, `socket_path: ${socket}`, `admin_socket: ${join(a.dir, "private", "agent-admin.sock")}`, `data_dir: ${join(a.dir, "agent")}`, "health_address: 127.0.0.1:0", `sync_interval: ${SYNC_S}s`, `server_addresses: [127.0.0.1:${a.port}]`, `node_attestor: {join_token: {token: ${t.token}}}`, "log_level: warn"].join("\n"),
    );
    const agent = await startAgentProcess(["--config", join(a.dir, "agent.yaml"), "--trust-bundle", join(a.dir, "bundle.pem")]);
    processes.push(agent);
    for (let i = 0; ; i++) {
      if (i > 300) throw new Error("a.test's agent never became ready");
      try {
        if ((await fetch(`http://127.0.0.1:${agent.healthPort}/ready`)).status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }

    // The watching workload: one stream for the whole run; every message is kept with its arrival.
    const seen: { at: number; fps: string[] }[] = [];
    const errors: string[] = [];
    client = createWorkloadApiClient({ address: socket });
    const watch = client.watchX509Context(
      (ctx: X509Context) => seen.push({ at: Date.now(), fps: (ctx.federatedBundles.get(`spiffe://${b.td}`) ?? []).map(sha) }),
      (err) => errors.push(err.message),
    );
    const until = async (pred: (fps: string[]) => boolean, since: number): Promise<number> => {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
        const hit = seen.find((m) => m.at >= since && pred(m.fps));
        if (hit) return hit.at;
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`the workload never received the expected b.test bundle; stream errors: ${errors.join("; ") || "none"}`);
    };
    await until((fps) => fps.length > 0, 0);

    const prepareMs: number[] = [];
    const revokeMs: number[] = [];
    const cliMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const before = await fingerprints(b);
      const oldId = ((JSON.parse(await admin(b, "authority", "show", "--output", "json")) as { authorities: { kind: string; state: string; id: string }[] }).authorities).find((x) => x.kind === "x509" && x.state === "active")!.id;
      const published = Date.now();
      await admin(b, "authority", "prepare", "--kind", "x509");
      cliMs.push(Date.now() - published);
      const fresh = (await fingerprints(b)).find((f) => !before.includes(f))!;
      prepareMs.push((await until((fps) => fps.includes(fresh), published)) - published);
      // Activate now (the bench does not wait out the safe-activation lead; the warning is expected).
      await admin(b, "authority", "activate", "--kind", "x509");
      await admin(b, "authority", "taint", "--kind", "x509", "--id", oldId);
      const revoked = Date.now();
      await admin(b, "authority", "revoke", "--kind", "x509", "--id", oldId);
      const oldFps = before;
      revokeMs.push((await until((fps) => fps.includes(fresh) && !fps.some((f) => oldFps.includes(f)), revoked)) - revoked);
    }
    watch.cancel();
    return {
      setup: { rounds: ROUNDS, refreshHintSeconds: HINT_S, refreshFloorSeconds: 1, agentSyncIntervalSeconds: SYNC_S, processes: "2 spindle servers + 1 agent, loopback", watcher: "FetchX509SVID stream (federated_bundles)" },
      baselineBoundMs: (HINT_S + SYNC_S) * 1000,
      streamErrors: errors,
      // Times run from the start of the `spindle authority` command, whose own run (a node process
      // start and one admin call) is included:
      authorityCommandMs: { median: median(cliMs), rounds: cliMs },
      prepareToWorkloadMs: { median: median(prepareMs), max: Math.max(...prepareMs), rounds: prepareMs },
      revokeToWorkloadMs: { median: median(revokeMs), max: Math.max(...revokeMs), rounds: revokeMs },
    };
  } finally {
    client?.close();
    for (const p of processes.reverse()) await p.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
