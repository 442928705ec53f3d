// `spindle dev` as a real process: server and agent in one process on temporary data, the current
// user's SVID fetched with `spindle api fetch x509`, then SIGINT stops it with exit code 0 and
// removes its sockets.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BIN, runCli } from "./helpers/cli-process.js";
import { devPathSegment } from "../../src/cli/commands/dev.js";

const dir = mkdtempSync(join(tmpdir(), "spindle-dev-it-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("spindle dev: fetch the current user's SVID, then SIGINT exits 0", async () => {
  const socket = join(dir, "public", "api.sock");
  const child = spawn(
    process.execPath,
    [BIN, "dev", "--socket-path", socket, "--admin-socket", join(dir, "server-private", "admin.sock"), "--agent-admin-socket", join(dir, "agent-private", "admin.sock")],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
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
    const id = `spiffe://example.org/dev/${devPathSegment(userInfo().username)}`;
    assert.match(out, new RegExp(`your identity: +${id} \\(selector unix:uid:${process.getuid!()}\\)`));
    assert.match(out, new RegExp(`npx spindle api fetch x509 --socket-path ${socket}`));
    const r = await runCli(["api", "fetch", "x509", "--socket-path", socket, "--output", "json"]);
    assert.equal(r.status, 0, r.stderr);
    const ctx = JSON.parse(r.stdout) as { svids: { spiffe_id: string }[] };
    assert.equal(ctx.svids[0]?.spiffe_id, id);
  } finally {
    if (child.exitCode === null) child.kill("SIGINT");
  }
  assert.equal(await exited, 0, err);
  assert.match(err, /spindle dev: stopped/);
  assert.equal(existsSync(socket), false, "the public socket is removed");
});

test("devPathSegment keeps a valid SPIFFE path segment", () => {
  assert.equal(devPathSegment("alice"), "alice");
  assert.equal(devPathSegment("DOMAIN\\bob smith"), "DOMAIN-bob-smith");
  assert.equal(devPathSegment(".."), "-");
  assert.equal(devPathSegment(""), "user");
});
