// `spindle dev` as a real process, run twice in the same directory: each run keeps its state in
// ./.spindle (SQLite store, CA keys 0600), serves the current user's SVID to `spindle api fetch
// x509`, prints a working `spindle envoy bootstrap` command, and stops on SIGINT with exit code 0
// and its sockets removed. The second run reuses the CA and the entries: the dev entry and an
// entry registered under the first run's agent both move to the new agent.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BIN, runCli } from "./helpers/cli-process.js";
import { devPathSegment } from "../../src/cli/commands/dev.js";

const dir = mkdtempSync(join(tmpdir(), "spindle-dev-it-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const socket = join(dir, "public", "api.sock");
const serverAdmin = join(dir, "server-private", "admin.sock");
const ID = `spiffe://example.org/dev/${devPathSegment(userInfo().username)}`;
const OTHER_ID = "spiffe://example.org/other";

interface DevRun {
  out: string;
  /** Sends SIGINT; resolves with the exit code and everything written to stderr. */
  interrupt(): Promise<{ code: number | null; err: string }>;
}

async function startDev(): Promise<DevRun> {
  const child = spawn(process.execPath, [BIN, "dev", "--socket-path", socket, "--admin-socket", serverAdmin, "--agent-admin-socket", join(dir, "agent-private", "admin.sock")], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`spindle dev did not start:\n${out}\n${err}`)), 60_000);
      child.stdout.on("data", () => out.includes("Press Ctrl-C") && (clearTimeout(timer), resolve()));
      void exited.then((c) => reject(new Error(`spindle dev exited with ${c}:\n${out}\n${err}`)));
    });
  } catch (e) {
    if (child.exitCode === null) child.kill("SIGKILL");
    throw e;
  }
  return {
    out,
    interrupt: async () => {
      if (child.exitCode === null) child.kill("SIGINT");
      return { code: await exited, err };
    },
  };
}

async function fetchIds(): Promise<string[]> {
  const r = await runCli(["api", "fetch", "x509", "--socket-path", socket, "--output", "json"]);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { svids: { spiffe_id: string }[] }).svids.map((s) => s.spiffe_id).sort();
}

async function stopped(run: DevRun): Promise<void> {
  const { code, err } = await run.interrupt();
  assert.equal(code, 0, err);
  assert.match(err, /spindle dev: stopped/);
  assert.equal(existsSync(socket), false, "the public socket is removed");
}

test("spindle dev twice in one directory: both runs serve the SVID from ./.spindle; SIGINT exits 0", async () => {
  const uid = process.getuid!();
  const first = await startDev();
  try {
    assert.match(first.out, new RegExp(`your identity: +${ID} \\(selector unix:uid:${uid}; entry created\\)`));
    assert.match(first.out, new RegExp(`data in ${join(dir, ".spindle")}\\)`));
    assert.match(first.out, new RegExp(`npx spindle api fetch x509 --socket-path ${socket}`));
    assert.deepEqual(await fetchIds(), [ID]);

    // The printed Envoy command runs as printed and yields a bootstrap pointing at the agent socket.
    const envoyLine = /npx spindle (envoy bootstrap .*) > envoy\.yaml/.exec(first.out);
    assert.ok(envoyLine, first.out);
    assert.match(envoyLine[1]!, new RegExp(`--socket-path ${socket} --spiffe-id ${ID}`));
    const boot = await runCli(envoyLine[1]!.split(" "));
    assert.equal(boot.status, 0, boot.stderr);
    assert.match(boot.stdout, new RegExp(`path: ${socket}`));

    // An entry registered the way the banner suggests, under this run's agent.
    const agentId = /agent: +(spiffe:\/\/\S+)/.exec(first.out)?.[1];
    assert.ok(agentId, first.out);
    const e = await runCli(["entry", "create", "--admin-socket", serverAdmin, "--parent-id", agentId, "--spiffe-id", OTHER_ID, "--selector", `unix:uid:${uid}`]);
    assert.equal(e.status, 0, e.stderr);
  } finally {
    await stopped(first);
  }
  const keys = join(dir, ".spindle", "server", "keys");
  const keyFiles = readdirSync(keys);
  assert.ok(keyFiles.length > 0, "CA keys are kept on disk");
  for (const f of keyFiles) assert.equal(statSync(join(keys, f)).mode & 0o777, 0o600, f);
  assert.equal(existsSync(join(dir, ".spindle", "agent")), false, "the agent's state does not outlive the run");

  const second = await startDev();
  try {
    assert.match(second.out, /entry kept from an earlier run; 1 more entry of the previous run moved to this agent/);
    const agentId = /agent: +(spiffe:\/\/\S+)/.exec(second.out)?.[1];
    assert.ok(agentId && !first.out.includes(agentId), "the second run attests as a new agent");
    assert.deepEqual(await fetchIds(), [ID, OTHER_ID].sort());
    const list = await runCli(["entry", "show", "--admin-socket", serverAdmin, "--output", "json"]);
    assert.equal(list.status, 0, list.stderr);
    const entries = (JSON.parse(list.stdout) as { entries: { spiffeId: string; parentId: string }[] }).entries;
    assert.deepEqual(entries.map((x) => [x.spiffeId, x.parentId]).sort(), [[ID, agentId], [OTHER_ID, agentId]].sort(), "no duplicate entries");
  } finally {
    await stopped(second);
  }
});

test("devPathSegment keeps a valid SPIFFE path segment", () => {
  assert.equal(devPathSegment("alice"), "alice");
  assert.equal(devPathSegment("DOMAIN\\bob smith"), "DOMAIN-bob-smith");
  assert.equal(devPathSegment(".."), "-");
  assert.equal(devPathSegment(""), "user");
});
