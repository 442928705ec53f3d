// Two trust domains federated both ways through https_spiffe bundle endpoints, with real processes
// only: `spindle server run` for a.test and b.test, one `spindle agent run` each, and go-spiffe
// workloads on the agents' sockets (test/integration/interop/go). Each side is bootstrapped once
// with the other's `spindle bundle show`; afterwards b.test rotates its X.509 CA (prepare, activate,
// taint, revoke) and its JWT key, and nobody touches a bundle again: a.test's refresher fetches the
// new bundle from b.test's endpoint (authenticated with the bundle it last fetched), a.test's agent
// receives it on its entry sync, and the workload's open Workload API streams (FetchX509SVID
// federated_bundles, FetchX509Bundles, FetchJWTBundles) are pushed the change without reconnecting.
//
// Timing (docs/federation.md "Propagation to workloads"): a bundle published by the peer reaches a
// watching workload within one poll interval (the peer's spiffe_refresh_hint, 2 s here, the floor
// lowered by `federation.refresh_floor: 1s`) plus one agent sync_interval (1 s here). The measured
// times are printed as FEDERATION-TIMING lines.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { eventually } from "./sds-fixtures.js";
import { startAgentProcess, type AgentProcess } from "./helpers/agent-process.js";
import { runCli, startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { freePort } from "./helpers/ports.js";
import { buildGoProgram, jsonLines, run } from "./interop/sdk-programs.js";

const REFRESH_HINT_S = 2;
const SYNC_INTERVAL_S = 1;
// The documented bound is hint + sync interval; the fetch itself, the agent's push and the
// workload's decoding add processing time, which on this shared, loaded machine is given 5 s.
const BOUND_MS = (REFRESH_HINT_S + SYNC_INTERVAL_S) * 1000;
const PROCESSING_MARGIN_MS = 5000;
const uid = process.getuid!();

type Event = Record<string, unknown>;

/** A long-running go-spiffe program whose JSON lines are all kept, each with its arrival. */
interface Watcher {
  child: ChildProcess;
  events: Event[];
  waitFor(pred: (e: Event) => boolean, timeoutMs: number, what: string): Promise<Event>;
  stderr(): string;
}

function startWatcher(bin: string, args: string[], env: NodeJS.ProcessEnv): Watcher {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const events: Event[] = [];
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line.startsWith("{")) events.push(JSON.parse(line) as Event);
  });
  return {
    child,
    events,
    stderr: () => stderr,
    waitFor: async (pred, timeoutMs, what) => {
      try {
        return await eventually(() => events.find(pred), timeoutMs);
      } catch {
        throw new Error(`${what}: not seen within ${timeoutMs} ms; events:\n${events.map((e) => JSON.stringify(e)).join("\n")}\nstderr:\n${stderr}`);
      }
    },
  };
}

interface Side {
  td: string;
  dir: string;
  port: number;
  endpointPort: number;
  adminSocket: string;
  socket: string;
  server?: ServerProcess;
  agent?: AgentProcess;
}

function side(root: string, td: string, port: number, endpointPort: number): Side {
  const dir = join(root, td);
  mkdirSync(join(dir, "private"), { recursive: true, mode: 0o700 });
  return { td, dir, port, endpointPort, adminSocket: join(dir, "private", "admin.sock"), socket: join(dir, "public", "api.sock") };
}

async function admin(s: Side, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await runCli([...args, "--admin-socket", s.adminSocket]);
  assert.equal(r.status, 0, `${s.td}: spindle ${args.join(" ")}: ${r.stderr}`);
  return r;
}

/** SHA-256 (hex) of every X.509 authority in the side's current bundle (`bundle show`). */
async function x509Fingerprints(s: Side): Promise<string[]> {
  const doc = JSON.parse((await admin(s, "bundle", "show", "--format", "spiffe")).stdout) as { keys: { use: string; x5c?: string[]; kid?: string }[] };
  return doc.keys
    .filter((k) => k.use === "x509-svid")
    .map((k) => createHash("sha256").update(new X509Certificate(Buffer.from(k.x5c![0]!, "base64")).raw).digest("hex"))
    .sort();
}

interface AuthorityJson {
  kind: string;
  id: string;
  state: string;
  tainted: boolean;
  safeToActivateAt?: string;
}

async function authorities(s: Side, kind: "x509" | "jwt"): Promise<AuthorityJson[]> {
  const all = (JSON.parse((await admin(s, "authority", "show", "--output", "json")).stdout) as { authorities: AuthorityJson[] }).authorities;
  return all.filter((a) => a.kind === kind);
}

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200;
  } catch {
    return false;
  }
}

/**
 * When A's server last logged storing a refreshed bundle of `td` in [since, until] (ms): the store
 * the workload's update came from (an earlier one in the window may be a previous change's).
 */
function storedAt(server: ServerProcess, td: string, since: number, until: number): number | undefined {
  let last: number | undefined;
  for (const line of server.output().split("\n")) {
    if (!line.includes("federated bundle refreshed") || !line.includes(`"${td}"`)) continue;
    const at = Date.parse(String((JSON.parse(line.slice(line.indexOf("{"))) as { time: string }).time));
    if (at >= since && at <= until) last = at;
  }
  return last;
}

/** Splits a publication-to-workload time at A's refresher storing the bundle. */
function split(cliStartedAt: number, publishedAt: number, heldAt: number): string {
  const stored = storedAt(aServer(), "b.test", cliStartedAt, heldAt);
  return stored === undefined ? "" : ` (poll: published->stored by a.test ${stored - publishedAt}ms, sync: stored->workload ${heldAt - stored}ms)`;
}
let aServer: () => ServerProcess;

function timing(name: string, ms: number, extra = ""): void {
  process.stdout.write(`FEDERATION-TIMING ${name}=${ms}ms bound=${BOUND_MS}ms (refresh_hint ${REFRESH_HINT_S}s + agent sync_interval ${SYNC_INTERVAL_S}s)${extra}\n`);
}

describe("federation: a.test and b.test federated through https_spiffe bundle endpoints, real processes", { timeout: 240_000 }, () => {
  let root: string;
  let a: Side;
  let b: Side;
  let goBin: string;
  let watchA: Watcher | undefined;
  let serverB: Watcher | undefined;
  let serverA: Watcher | undefined;
  const env = (s: Side) => ({ SPIFFE_ENDPOINT_SOCKET: `unix://${s.socket}` });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "spindle-federation-"));
    chmodSync(root, 0o755);
    const build = buildGoProgram("federation");
    const [pa, pb, ea, eb] = [await freePort(), await freePort(), await freePort(), await freePort()];
    a = side(root, "a.test", pa, ea);
    b = side(root, "b.test", pb, eb);
    for (const s of [a, b]) {
      writeFileSync(
        join(s.dir, "server.yaml"),
        [
          `trust_domain: ${s.td}`,
          `data_dir: ${join(s.dir, "server")}`,
          `bind_address: 127.0.0.1:${s.port}`,
          `admin_socket: ${s.adminSocket}`,
          "key_manager: disk",
          "health_address: 127.0.0.1:0",
          "peer_refresh_interval: 1s",
          "federation:",
          "  refresh_floor: 1s",
          "  bundle_endpoint:",
          `    address: 127.0.0.1:${s.endpointPort}`,
          `    refresh_hint: ${REFRESH_HINT_S}s`,
        ].join("\n"),
      );
    }
    [a.server, b.server] = await Promise.all([a, b].map((s) => startServerProcess(["--config", join(s.dir, "server.yaml")])));
    aServer = () => a.server!;

    // Bootstrap, once: each side's bundle, as `spindle bundle show` prints it, handed to the other.
    for (const [self, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      const bootstrap = join(self.dir, `${peer.td}-bootstrap.json`);
      writeFileSync(bootstrap, (await admin(peer, "bundle", "show", "--format", "spiffe")).stdout);
      await admin(
        self,
        "federation",
        "create",
        "--trust-domain",
        peer.td,
        "--bundle-endpoint-url",
        `https://127.0.0.1:${peer.endpointPort}/`,
        "--bundle-endpoint-profile",
        "https_spiffe",
        "--endpoint-spiffe-id",
        `spiffe://${peer.td}/spindle/server`,
        "--trust-domain-bundle-path",
        bootstrap,
      );
    }

    for (const [s, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      const t = JSON.parse((await admin(s, "token", "generate", "--output", "json")).stdout) as { token: string; agentId: string };
      await admin(s, "entry", "create", "--spiffe-id", `spiffe://${s.td}/workload`, "--parent-id", t.agentId, "--selector", `unix:uid:${uid}`, "--federates-with", peer.td);
      writeFileSync(join(s.dir, "bundle.pem"), (await admin(s, "bundle", "show", "--format", "pem")).stdout);
      writeFileSync(
        join(s.dir, "agent.yaml"),
        [
          `trust_domain: ${s.td}`,
          `socket_path: ${s.socket}`,
          `admin_socket: ${join(s.dir, "private", "agent-admin.sock")}`,
          `data_dir: ${join(s.dir, "agent")}`,
          "health_address: 127.0.0.1:0",
          `sync_interval: ${SYNC_INTERVAL_S}s`,
          `server_addresses: [127.0.0.1:${s.port}]`,
          `node_attestor: {join_token: {token: ${t.token}}}`,
        ].join("\n"),
      );
    }
    [a.agent, b.agent] = await Promise.all([a, b].map((s) => startAgentProcess(["--config", join(s.dir, "agent.yaml"), "--trust-bundle", join(s.dir, "bundle.pem")])));
    goBin = await build;
    // Ready = the first sync is done; a stream opened earlier is refused (Unavailable) and retried.
    for (const s of [a, b]) await eventually(() => ready(s.agent!.healthPort), 30_000);
  });

  after(async () => {
    for (const w of [watchA, serverA, serverB]) w?.child.kill();
    await Promise.all([a?.agent?.stop(), b?.agent?.stop()]);
    await Promise.all([a?.server?.stop(), b?.server?.stop()]);
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  /** A go-spiffe client on `from`'s agent calls the go-spiffe server `to` with AuthorizeMemberOf. */
  async function call(from: Side, server: Watcher, to: Side): Promise<void> {
    const addr = String((await server.waitFor((e) => e["event"] === "listening", 30_000, "mtls-server listening"))["addr"]);
    const served = server.events.filter((e) => e["event"] === "served").length;
    const r = await run(goBin, ["mtls-client", "-connect", addr, "-server-member-of", to.td], { env: env(from), timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${from.td} -> ${to.td}: ${r.stdout}${r.stderr}`);
    assert.deepEqual(jsonLines(r.stdout), [{ event: "reply", reply: `hello spiffe://${from.td}/workload, you said ping from spiffe://${from.td}/workload` }]);
    await server.waitFor((e) => e["event"] === "served" && server.events.filter((x) => x["event"] === "served").length > served, 10_000, "served");
  }

  const holds = (source: "x509svid-bundle" | "x509-bundle", fp: string, present = true) => (e: Event) =>
    e["event"] === source && (e["fingerprints"] as string[]).includes(fp) === present;

  it("bootstrapped once, go-spiffe mTLS works both ways; b.test rotates its X.509 CA and JWT key and nothing is touched by hand", async () => {
    // A's workload: three Workload API streams held open for the whole test.
    watchA = startWatcher(goBin, ["watch-federated", "-td", b.td, "-duration", "200s"], env(a));
    const bOriginal = await x509Fingerprints(b);
    assert.equal(bOriginal.length, 1);
    await watchA.waitFor(holds("x509svid-bundle", bOriginal[0]!), 30_000, "A's workload holds b.test's bundle (FetchX509SVID)");
    await watchA.waitFor(holds("x509-bundle", bOriginal[0]!), 5_000, "A's workload holds b.test's bundle (FetchX509Bundles)");

    serverB = startWatcher(goBin, ["mtls-server", "-allow-member-of", a.td], env(b));
    serverA = startWatcher(goBin, ["mtls-server", "-allow-member-of", b.td], env(a));
    // B's workload must hold a.test's bundle too before it can accept A.
    await eventually(async () => (await run(goBin, ["mtls-client", "-connect", String((await serverB!.waitFor((e) => e["event"] === "listening", 30_000, "listening"))["addr"]), "-server-member-of", b.td], { env: env(a) })).code === 0, 30_000);
    await call(a, serverB, b);
    await call(b, serverA, a);

    // --- X.509 CA rotation on b.test.
    // Times run from the CLI's return: by then the authority is stored and the endpoint serves it.
    const prepCli = Date.now();
    await admin(b, "authority", "prepare", "--kind", "x509");
    const preparedAt = Date.now();
    const bPrepared = await x509Fingerprints(b);
    const newFp = bPrepared.find((f) => !bOriginal.includes(f));
    assert.ok(newFp, "the prepared CA is published in b.test's bundle at once");
    const heldSvid = await watchA.waitFor(holds("x509svid-bundle", newFp), 30_000, "A's workload holds b.test's prepared CA (FetchX509SVID)");
    const heldBundles = await watchA.waitFor(holds("x509-bundle", newFp), 5_000, "A's workload holds b.test's prepared CA (FetchX509Bundles)");
    const publishToWorkload = Math.max(Number(heldSvid["at_ms"]), Number(heldBundles["at_ms"])) - preparedAt;
    timing("x509_prepare_to_workload", publishToWorkload, ` FetchX509SVID=${Number(heldSvid["at_ms"]) - preparedAt}ms FetchX509Bundles=${Number(heldBundles["at_ms"]) - preparedAt}ms${split(prepCli, preparedAt, preparedAt + publishToWorkload)}`);
    assert.ok(publishToWorkload <= BOUND_MS + PROCESSING_MARGIN_MS, `b.test's new CA reached A's workload after ${publishToWorkload} ms, bound ${BOUND_MS} ms + ${PROCESSING_MARGIN_MS} ms processing`);

    // Activate at the earliest safe time (3 hints + peer_refresh_interval after preparing).
    const prepared = (await authorities(b, "x509")).find((x) => x.state === "prepared")!;
    const oldX509 = (await authorities(b, "x509")).find((x) => x.state === "active")!;
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(prepared.safeToActivateAt!) - Date.now() + 200)));
    const activatedAt = Date.now();
    const activated = await admin(b, "authority", "activate", "--kind", "x509");
    // (activatedAt is taken before the call: the held-before-activation check is the strict one.)
    assert.doesNotMatch(activated.stderr, /warning/, "activated at the safe time: no warning");
    // Section 4.1 of SPIFFE_Federation: the peer holds the key before the first SVID signed by it.
    const activationToWorkload = Math.max(Number(heldSvid["at_ms"]), Number(heldBundles["at_ms"])) - activatedAt;
    timing("x509_activate_to_workload", activationToWorkload, " (negative: held before activation)");
    assert.ok(activationToWorkload <= 0, "A's workload held b.test's new CA before b.test activated it");
    await call(a, serverB, b);
    await call(b, serverA, a);

    // Taint and revoke the old CA: b.test's workloads are re-issued under the new CA, the old one
    // leaves the bundle, and A's workload drops it without a manual step.
    const beforeTaint = b.agent!.output().length;
    await admin(b, "authority", "taint", "--kind", "x509", "--id", oldX509.id);
    // The operator's procedure: revoke only once the agents have re-issued what the tainted CA
    // signed (the agent's own SVID and its workloads'), or the agent SVID is refused and a
    // join-token agent cannot attest again. The CLI is fast enough to revoke before the next sync.
    await eventually(() => {
      const out = b.agent!.output().slice(beforeTaint);
      const reissued = out.indexOf("re-issuing every SVID it signed");
      return out.includes("the authority that signed the agent SVID is tainted") && reissued >= 0 && out.indexOf("SVID renewal pass done", reissued) >= 0;
    }, 15_000);
    await new Promise((r) => setTimeout(r, 1500)); // the agent SVID renewal started with the taint
    const revCli = Date.now();
    await admin(b, "authority", "revoke", "--kind", "x509", "--id", oldX509.id);
    const revokedAt = Date.now();
    assert.deepEqual(await x509Fingerprints(b), [newFp], "b.test's bundle holds only the new CA");
    const droppedSvid = await watchA.waitFor((e) => holds("x509svid-bundle", bOriginal[0]!, false)(e) && holds("x509svid-bundle", newFp)(e), 30_000, "A's workload dropped b.test's revoked CA");
    const droppedBundles = await watchA.waitFor((e) => holds("x509-bundle", bOriginal[0]!, false)(e) && holds("x509-bundle", newFp)(e), 5_000, "A's FetchX509Bundles dropped b.test's revoked CA");
    const revokeToWorkload = Math.max(Number(droppedSvid["at_ms"]), Number(droppedBundles["at_ms"])) - revokedAt;
    timing("x509_revoke_to_workload", revokeToWorkload, split(revCli, revokedAt, revokedAt + revokeToWorkload));
    assert.ok(revokeToWorkload <= BOUND_MS + PROCESSING_MARGIN_MS, `the revocation reached A's workload after ${revokeToWorkload} ms`);
    // A trusts only b.test's new CA now, so these calls prove B's SVIDs come from it.
    let lastTry = "";
    await eventually(async () => {
      const r = await run(goBin, ["mtls-client", "-connect", String(serverB!.events.find((e) => e["event"] === "listening")!["addr"]), "-server-member-of", b.td], { env: env(a) });
      lastTry = `${r.stdout}${r.stderr}`;
      return r.code === 0;
    }, 15_000).catch((err: Error) => assert.fail(`${err.message}; last mtls-client output: ${lastTry}`));
    await call(a, serverB, b);
    await call(b, serverA, a);

    // --- JWT key rotation on b.test.
    const oldJwt = (await authorities(b, "jwt")).find((x) => x.state === "active")!;
    const jwtpCli = Date.now();
    await admin(b, "authority", "prepare", "--kind", "jwt");
    const jwtPreparedAt = Date.now();
    const newJwt = (await authorities(b, "jwt")).find((x) => x.state === "prepared")!;
    const kidHeld = await watchA.waitFor((e) => e["event"] === "jwt-bundle" && (e["kids"] as string[]).includes(newJwt.id), 30_000, "A's workload holds b.test's prepared JWT key (FetchJWTBundles)");
    const jwtToWorkload = Number(kidHeld["at_ms"]) - jwtPreparedAt;
    timing("jwt_prepare_to_workload", jwtToWorkload, split(jwtpCli, jwtPreparedAt, jwtPreparedAt + jwtToWorkload));
    assert.ok(jwtToWorkload <= BOUND_MS + PROCESSING_MARGIN_MS, `b.test's new JWT key reached A's workload after ${jwtToWorkload} ms`);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(newJwt.safeToActivateAt!) - Date.now() + 200)));
    assert.doesNotMatch((await admin(b, "authority", "activate", "--kind", "jwt")).stderr, /warning/);
    await admin(b, "authority", "taint", "--kind", "jwt", "--id", oldJwt.id);
    await admin(b, "authority", "revoke", "--kind", "jwt", "--id", oldJwt.id);
    await watchA.waitFor((e) => e["event"] === "jwt-bundle" && !(e["kids"] as string[]).includes(oldJwt.id) && (e["kids"] as string[]).includes(newJwt.id), 30_000, "A's workload dropped b.test's revoked JWT key");

    // A JWT-SVID minted by B's agent now (a fresh audience, so not a cached token) is signed by
    // the new key and validates in A through A's agent (ValidateJWTSVID).
    const fetched = await runCli(["api", "fetch", "jwt", "--audience", "spiffe://a.test/workload", "--socket-path", b.socket, "--output", "json"]);
    assert.equal(fetched.status, 0, fetched.stderr);
    const token = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(fetched.stdout)?.[0];
    assert.ok(token, `a JWT-SVID in: ${fetched.stdout}`);
    const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { kid: string };
    assert.equal(header.kid, newJwt.id, "signed by b.test's new JWT key");
    const validated = await runCli(["api", "validate", "jwt", "--audience", "spiffe://a.test/workload", "--svid", token, "--socket-path", a.socket, "--output", "json"]);
    assert.equal(validated.status, 0, `A validates B's JWT-SVID: ${validated.stderr}`);
    assert.match(validated.stdout, /spiffe:\/\/b\.test\/workload/);

    // The same three streams carried every change: no stream error, so no reconnect.
    assert.deepEqual(
      watchA.events.filter((e) => e["event"] === "watch-error"),
      [],
      "A's Workload API streams were never broken",
    );
  });
});
