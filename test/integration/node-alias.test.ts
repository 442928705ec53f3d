// Stable agent identities with real processes: `spindle token generate --spiffe-id` gives the
// token's agent a node alias; a workload entry parented on the alias is served by that agent, and
// after the node re-attests with a new token (a new agent ID, fresh agent state) the same entry is
// still served, with no entry created or changed.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runCli, startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { startAgentProcess, type AgentProcess } from "./helpers/agent-process.js";
import { freePort } from "./helpers/ports.js";
import { eventually } from "./sds-fixtures.js";

const TD = "example.org";
const ALIAS = `spiffe://${TD}/node/web-1`;
const WORKLOAD_ID = `spiffe://${TD}/web`;
const dir = mkdtempSync(join(tmpdir(), "spindle-alias-it-"));
const serverAdmin = join(dir, "server-private", "admin.sock");
const publicSocket = join(dir, "public", "api.sock");
let port: number;
let server: ServerProcess;
let agent: AgentProcess | undefined;

const admin = async (...a: string[]) => {
  const r = await runCli([...a, "--admin-socket", serverAdmin, "--output", "json"]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};

async function startAgent(token: string, run: string): Promise<AgentProcess> {
  writeFileSync(
    join(dir, `agent-${run}.yaml`),
    [
      `trust_domain: ${TD}`,
      `socket_path: ${publicSocket}`,
      `admin_socket: ${join(dir, `agent-${run}-private`, "admin.sock")}`,
      // A fresh data dir: the node comes back with no saved SVID, as after a missed renewal.
      `data_dir: ${join(dir, `agent-${run}`)}`,
      "health_address: 127.0.0.1:0",
      "sync_interval: 1s",
      `server_addresses: [127.0.0.1:${port}]`,
      `node_attestor: {join_token: {token: ${token}}}`,
    ].join("\n"),
  );
  return startAgentProcess(["--config", join(dir, `agent-${run}.yaml`), "--trust-bundle", join(dir, "bundle.pem")]);
}

/** The SPIFFE IDs the Workload API gives this process, once it gives any. */
async function fetchedIds(): Promise<string> {
  return eventually(async () => {
    const r = await runCli(["api", "fetch", "x509", "--socket-path", publicSocket, "--output", "json"]);
    if (r.status !== 0) return undefined;
    return (JSON.parse(r.stdout) as { svids: { spiffe_id: string }[] }).svids.map((s) => s.spiffe_id).join(",");
  }, 30_000);
}

before(async () => {
  port = await freePort();
  mkdirSync(join(dir, "server-private"), { mode: 0o700 });
  writeFileSync(
    join(dir, "server.yaml"),
    [`trust_domain: ${TD}`, `data_dir: ${join(dir, "server")}`, `bind_address: 127.0.0.1:${port}`, `admin_socket: ${serverAdmin}`, "key_manager: disk", "health_address: 127.0.0.1:0"].join("\n"),
  );
  server = await startServerProcess(["--config", join(dir, "server.yaml")]);
  const b = await runCli(["bundle", "show", "--admin-socket", serverAdmin]);
  assert.equal(b.status, 0, b.stderr);
  writeFileSync(join(dir, "bundle.pem"), b.stdout);
});

after(async () => {
  await agent?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a workload entry parented on a token's node alias survives re-attestation under a new token", async () => {
  const first = await admin("token", "generate", "--spiffe-id", ALIAS);
  assert.deepEqual((first["alias"] as Record<string, unknown>)["created"], true);
  const created = await runCli(["entry", "create", "--admin-socket", serverAdmin, "--spiffe-id", WORKLOAD_ID, "--parent-id", ALIAS, "--selector", `unix:uid:${process.getuid!()}`]);
  assert.equal(created.status, 0, created.stderr);
  assert.equal(created.stderr, "", "the alias is a known parent: no warning");
  const entriesBefore = await admin("entry", "show");

  agent = await startAgent(first["token"] as string, "1");
  assert.match(agent.output(), new RegExp(`attested as ${first["agentId"] as string}`));
  assert.equal(await fetchedIds(), WORKLOAD_ID, "served through the alias");
  await agent.stop();
  agent = undefined;

  const second = await admin("token", "generate", "--spiffe-id", ALIAS);
  assert.notEqual(second["agentId"], first["agentId"], "a new token is a new agent ID");
  assert.deepEqual(second["alias"], { spiffeId: ALIAS, entryId: (first["alias"] as Record<string, unknown>)["entryId"], created: false });
  agent = await startAgent(second["token"] as string, "2");
  assert.match(agent.output(), new RegExp(`attested as ${second["agentId"] as string}`));
  assert.equal(await fetchedIds(), WORKLOAD_ID, "still served after re-attestation");
  assert.deepEqual(await admin("entry", "show"), entriesBefore, "no entry was created or changed");
  const agents = await admin("agent", "list");
  assert.equal(JSON.stringify(agents).includes(`spiffe_id:${ALIAS}`), true, "both agents carry the alias selector");
});
