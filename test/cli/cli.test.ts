import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/spindle.js", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });

test("spindle --help lists every command group", () => {
  const r = run("--help");
  assert.equal(r.status, 0, r.stderr);
  for (const g of ["server", "agent", "entry", "token", "bundle", "api", "envoy", "authz", "dev"]) {
    assert.match(r.stdout, new RegExp(`^  ${g} `, "m"), `help lists ${g}`);
  }
});

test("spindle --version prints the package version", () => {
  const r = run("--version");
  assert.equal(r.status, 0);
  assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test("unknown commands and bad flags exit non-zero with a one-line reason", () => {
  const a = run("frobnicate");
  assert.notEqual(a.status, 0);
  assert.match(a.stderr, /^error \[ERR_INVALID_ARGUMENT\]: unknown command 'frobnicate'/);
  const b = run("--no-such-flag");
  assert.notEqual(b.status, 0);
  assert.match(b.stderr, /^error \[ERR_INVALID_ARGUMENT\]: unknown option '--no-such-flag'/);
});
