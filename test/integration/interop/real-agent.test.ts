// The official SDK programs (go-spiffe, py-spiffe) against real `spindle server run` and `spindle
// agent run` processes: the agent attests with a join token, and the workloads are told apart only
// by the unix attestor, each program running under its own uid on the agent's public socket.
// Running processes under other uids needs root: in CI (root) these tests must run, never skip.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../sds-fixtures.js";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.js";
import { runCli, startServerProcess, type ServerProcess } from "../helpers/cli-process.js";
import { assertGoFetch, buildSdkPrograms, jsonLines, mustRun, run, shareWithOtherUids, startLines, type RunAs, type SdkPrograms } from "./sdk-programs.js";
import { freePort } from "../helpers/ports.js";

const TD = "example.org";
const SERVICE_A = `spiffe://${TD}/service-a`;
const SERVICE_B = `spiffe://${TD}/service-b`;
const INTRUDER = `spiffe://${TD}/intruder`;
const UIDS = new Map([
  [SERVICE_A, 1201],
  [SERVICE_B, 1202],
  [INTRUDER, 1203],
]);
const isRoot = process.getuid!() === 0;

function needsRoot(t: { skip(message: string): void }): boolean {
  if (isRoot) return true;
  if (process.env["CI"] === "true") assert.fail(`these tests run the SDK programs under other uids and need root (running as uid ${process.getuid!()} in CI)`);
  t.skip("needs root to run the SDK programs under other uids");
  return false;
}

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200;
  } catch {
    return false;
  }
}

describe("interop: the official SDKs fetch from a real spindle agent", { timeout: 300_000 }, () => {
  let dir: string | undefined;
  let server: ServerProcess | undefined;
  let agent: AgentProcess | undefined;
  let sdk: SdkPrograms;
  let publicSocket: string;
  const endpoint = () => ({ SPIFFE_ENDPOINT_SOCKET: `unix://${publicSocket}`, HOME: dir });
  const as = (id: string): RunAs => ({ uid: UIDS.get(id)!, gid: UIDS.get(id)!, cwd: dir });

  before(async () => {
    if (!isRoot) return;
    dir = mkdtempSync(join(tmpdir(), "spindle-interop-agent-"));
    // Other uids reach the public socket, the Go binary and the venv through this directory.
    chmodSync(dir, 0o755);
    sdk = await shareWithOtherUids(await buildSdkPrograms("real-agent"), dir);

    const port = await freePort();
    const serverAdmin = join(dir, "server-private", "admin.sock");
    publicSocket = join(dir, "public", "api.sock");
    mkdirSync(join(dir, "server-private"), { mode: 0o700 });
    writeFileSync(
      join(dir, "server.yaml"),
      [`trust_domain: ${TD}`, `data_dir: ${join(dir, "server")}`, `bind_address: 127.0.0.1:${port}`, `admin_socket: ${serverAdmin}`, "key_manager: disk", "health_address: 127.0.0.1:0"].join("\n"),
    );
    server = await startServerProcess(["--config", join(dir, "server.yaml")]);
    const admin = async (...a: string[]) => {
      const r = await runCli([...a, "--admin-socket", serverAdmin]);
      assert.equal(r.status, 0, `spindle ${a.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const t = JSON.parse(await admin("token", "generate", "--output", "json")) as { token: string; agentId: string };
    for (const [id, uid] of UIDS) await admin("entry", "create", "--spiffe-id", id, "--parent-id", t.agentId, "--selector", `unix:uid:${uid}`);
    writeFileSync(join(dir, "bundle.pem"), await admin("bundle", "show", "--format", "pem"));
    writeFileSync(
      join(dir, "agent.yaml"),
      [
        `trust_domain: ${TD}`,
        `socket_path: ${publicSocket}`,
        `admin_socket: ${join(dir, "agent-private", "admin.sock")}`,
        `data_dir: ${join(dir, "agent")}`,
        "health_address: 127.0.0.1:0",
        "sync_interval: 1s",
        `server_addresses: [127.0.0.1:${port}]`,
        `node_attestor: {join_token: {token: ${t.token}}}`,
      ].join("\n"),
    );
    agent = await startAgentProcess(["--config", join(dir, "agent.yaml"), "--server-address", `127.0.0.1:${port}`, "--trust-bundle", join(dir, "bundle.pem")]);
    const healthPort = agent.healthPort;
    await eventually(() => ready(healthPort), 30_000);
  });

  after(async () => {
    await agent?.stop();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("go-spiffe: X509Source, JWTSource and ValidateJWTSVID as uid 1201", async (t) => {
    if (!needsRoot(t)) return;
    const r = await mustRun(sdk.goBin, ["fetch", "-audience", "interop-aud"], { env: endpoint(), ...as(SERVICE_A) });
    // The server CA signs workload SVIDs directly: the chain is the leaf alone, verified up to the root.
    assertGoFetch(r.stdout, { spiffeId: SERVICE_A, chainLen: 1, verifiedChainLen: 2, hint: "" });
  });

  it("go-spiffe mTLS: service-a (uid 1201) calls service-b (uid 1202) with AuthorizeID; the intruder (uid 1203) is refused", async (t) => {
    if (!needsRoot(t)) return;
    const mtlsServer = startLines(sdk.goBin, ["mtls-server", "-allow", SERVICE_A], endpoint(), as(SERVICE_B));
    try {
      const listening = await mtlsServer.next();
      assert.equal(listening["event"], "listening", mtlsServer.stderr());
      const addr = String(listening["addr"]);

      const ok = await run(sdk.goBin, ["mtls-client", "-connect", addr, "-server-id", SERVICE_B], { env: endpoint(), ...as(SERVICE_A) });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.deepEqual(jsonLines(ok.stdout), [{ event: "reply", reply: `hello ${SERVICE_A}, you said ping from ${SERVICE_A}` }]);
      assert.deepEqual(await mtlsServer.next(), { event: "served", peer: SERVICE_A });

      const refused = await run(sdk.goBin, ["mtls-client", "-connect", addr, "-server-id", SERVICE_B], { env: endpoint(), ...as(INTRUDER) });
      assert.notEqual(refused.code, 0, "the intruder must not get an answer");
      assert.equal(jsonLines(refused.stdout)[0]?.["event"], "error");
      const serverSide = await mtlsServer.next();
      assert.equal(serverSide["event"], "refused");
      assert.match(String(serverSide["error"]), new RegExp(INTRUDER.replaceAll("/", "\\/")));
    } finally {
      mtlsServer.child.kill();
    }
  });

  it("py-spiffe: fetches the SVID, checks the SPIFFE ID, the chain and a JWT-SVID as uid 1202", async (t) => {
    if (!needsRoot(t)) return;
    const r = await mustRun(sdk.python, [sdk.fetchSvidPy, SERVICE_B, "py-aud"], { env: endpoint(), ...as(SERVICE_B) });
    assert.deepEqual(JSON.parse(r.stdout.trim()), {
      spiffe_id: SERVICE_B,
      id_matches: true,
      chain_len: 1,
      chain_verified_to_bundle: true,
      key_matches_leaf: true,
      svid_count: 1,
      trust_domains: [TD],
      jwt_sub: SERVICE_B,
      jwt_audience: ["py-aud"],
    });
  });
});
