// `spindle agent list|show|ban|unban|evict` against a real `spindle server run` process: an
// agent-like client attests with a join token over the agent API, and every command's effect is
// checked on that client's next agent API call.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectError, type Client } from "@connectrpc/connect";
import * as joinToken from "../../src/agent/nodeattestors/join-token/index.js";
import { ERROR_CODE_HEADER } from "../../src/ca/agentapi/index.js";
import { agentClient, attest } from "../support/agentapi-harness.js";
import type { AgentService } from "../../src/gen/spindle/agent/v1/agent_pb.js";
import { runCli as runCliInProcess } from "../../src/cli/program.js";
import { runCli, startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { freePort } from "./helpers/ports.js";

const TD = "example.org";
const dir = mkdtempSync(join(tmpdir(), "spindle-agent-admin-cli-"));
const adminSocket = join(dir, "private", "admin.sock");
let server: ServerProcess;
let port: number;
let bundlePem: string;

before(async () => {
  port = await freePort();
  mkdirSync(join(dir, "private"), { mode: 0o700 });
  writeFileSync(
    join(dir, "server.yaml"),
    [`trust_domain: ${TD}`, `data_dir: ${join(dir, "data")}`, `bind_address: 127.0.0.1:${port}`, `admin_socket: ${adminSocket}`, "key_manager: memory", "health_address: 127.0.0.1:0"].join("\n"),
  );
  server = await startServerProcess(["--config", join(dir, "server.yaml")]);
  const b = await cli("bundle", "show");
  assert.equal(b.status, 0, b.stderr);
  bundlePem = b.stdout;
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI in this process (fast); one test below runs the real binary as a process. */
async function cli(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const status = await runCliInProcess([...args, "--admin-socket", adminSocket], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env: {} });
  return { status, stdout, stderr };
}

async function json(...args: string[]): Promise<Record<string, unknown>> {
  const r = await cli(...args, "--output", "json");
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

async function attestWithNewToken(): Promise<{ id: string; client: Client<typeof AgentService> }> {
  const token = ((await json("token", "generate")) as { token: string }).token;
  const { svid, privateKey } = await attest(agentClient(port, bundlePem), joinToken.createJoinTokenAgentAttestor({ token }));
  return { id: svid.svid!.spiffeId, client: agentClient(port, bundlePem, { chainDer: svid.svid!.certChain, privateKey }) };
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err) => {
    const ce = ConnectError.from(err);
    assert.equal(ce.metadata.get(ERROR_CODE_HEADER), code, ce.message);
    return true;
  });
}

test("list, show, ban, unban and evict an attested agent; each takes effect on its next call", async () => {
  const a = await attestWithNewToken();
  await a.client.syncEntries({});

  const list = (await json("agent", "list")) as { agents: { spiffeId: string; attestor: string; banned: boolean }[] };
  assert.deepEqual(list.agents.map((x) => [x.spiffeId, x.attestor, x.banned]), [[a.id, "join_token", false]]);
  const text = await cli("agent", "list");
  assert.match(text.stdout, /^Found 1 attested agent\n\nSPIFFE ID +: spiffe:\/\/example\.org\/spindle\/agent\/join_token\//);
  assert.match(text.stdout, /Banned +: false/);
  const shown = await json("agent", "show", "--spiffe-id", a.id);
  assert.equal(shown["spiffeId"], a.id);
  assert.match(String(shown["serial"]), /^[0-9a-f]+$/);
  assert.equal(shown["canReattest"], false);
  // JSON times are RFC 3339 (golden: the exact keys and their form).
  for (const k of ["expiresAt", "createdAt", "updatedAt"]) assert.match(String(shown[k]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, k);
  assert.ok(Date.parse(shown["expiresAt"] as string) > Date.parse(shown["createdAt"] as string));

  const ban = await cli("agent", "ban", "--spiffe-id", a.id);
  assert.equal(ban.status, 0, ban.stderr);
  assert.equal(ban.stdout, `Banned ${a.id}\n`);
  await refusedWith(a.client.syncEntries({}), "ERR_AGENT_BANNED");
  assert.deepEqual(((await json("agent", "list", "--banned")) as { agents: { spiffeId: string }[] }).agents.map((x) => x.spiffeId), [a.id]);
  assert.deepEqual(((await json("agent", "list", "--no-banned")) as { agents: unknown[] }).agents, []);
  const evictBanned = await cli("agent", "evict", "--spiffe-id", a.id);
  assert.equal(evictBanned.status, 1);
  assert.match(evictBanned.stderr, /^error \[ERR_AGENT_EVICT_BANNED\]: .*unban it first/);

  assert.equal((await json("agent", "unban", "--spiffe-id", a.id))["banned"], false);
  await a.client.syncEntries({});

  const evict = await cli("agent", "evict", "--spiffe-id", a.id);
  assert.equal(evict.status, 0, evict.stderr);
  assert.match(evict.stdout, /^Evicted .*; it must attest again \(join_token evidence is single use/);
  await refusedWith(a.client.syncEntries({}), "ERR_AGENT_NOT_ATTESTED");
  const gone = await cli("agent", "show", "--spiffe-id", a.id);
  assert.equal(gone.status, 1);
  assert.equal(gone.stderr, `error [ERR_NOT_FOUND]: no attested agent ${a.id} (see \`spindle agent list\`)\n`);

  // With a new join token the node attests again (under a new agent ID).
  const b = await attestWithNewToken();
  await b.client.syncEntries({});
  assert.deepEqual(((await json("agent", "list")) as { agents: { spiffeId: string }[] }).agents.map((x) => x.spiffeId), [b.id]);
});

test("bad agent IDs are usage errors, with JSON errors under --output json", async () => {
  const bad = await cli("agent", "ban", "--spiffe-id", "spiffe://example.org/web");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^error \[ERR_INVALID_ARGUMENT\]: spiffe_id: .*not an agent SPIFFE ID/);
  const r = await cli("agent", "show", "--spiffe-id", "not a spiffe id", "--output", "json");
  assert.equal(r.status, 1);
  assert.equal((JSON.parse(r.stderr) as { error: { code: string } }).error.code, "ERR_INVALID_ARGUMENT");
  const sel = await cli("agent", "list", "--selector", "nocolon");
  assert.equal(sel.status, 1);
  assert.match(sel.stderr, /^error \[ERR_SELECTOR_INVALID\]: /);
  const missing = await cli("agent", "show");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--spiffe-id/);
});

test("the spindle binary runs the agent admin commands as a separate process", async () => {
  const a = await attestWithNewToken();
  const r = await runCli(["agent", "show", "--spiffe-id", a.id, "--admin-socket", adminSocket]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^SPIFFE ID +: ${a.id}\n`));
  const banned = await runCli(["agent", "ban", "--spiffe-id", a.id, "--admin-socket", adminSocket, "--output", "json"]);
  assert.equal(banned.status, 0, banned.stderr);
  assert.equal((JSON.parse(banned.stdout) as { banned: boolean }).banned, true);
  await refusedWith(a.client.syncEntries({}), "ERR_AGENT_BANNED");
});
