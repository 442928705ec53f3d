// bin/spindle.js runs dist/ only while it is at least as new as every source under src/; otherwise
// (dist/ missing, or a source edited after the build) it runs the TypeScript sources through tsx.
// Checked on a throwaway tree holding a copy of bin/spindle.js and two marker entry points.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));

test("bin/spindle.js picks dist/ when fresh and the sources when dist/ is missing or stale", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-bin-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "bin"));
  mkdirSync(join(dir, "src", "cli"), { recursive: true });
  copyFileSync(join(repo, "bin", "spindle.js"), join(dir, "bin", "spindle.js"));
  symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const source = join(dir, "src", "cli", "main.ts");
  writeFileSync(source, 'const from: string = "src";\nprocess.stdout.write(from);\n');
  const run = () => execFileSync(process.execPath, [join(dir, "bin", "spindle.js")], { encoding: "utf8" });

  assert.equal(run(), "src", "no dist/: the sources run");

  mkdirSync(join(dir, "dist", "cli"), { recursive: true });
  writeFileSync(join(dir, "dist", "cli", "main.js"), 'process.stdout.write("dist");\n');
  const builtAtMs = Date.now();
  writeFileSync(join(dir, "dist", "build-info.json"), JSON.stringify({ builtAtMs }));
  const before = new Date(builtAtMs - 60_000);
  utimesSync(source, before, before);
  assert.equal(run(), "dist", "dist/ newer than every source: dist/ runs");

  const after = new Date(builtAtMs + 60_000);
  utimesSync(source, after, after);
  assert.equal(run(), "src", "a source edited after the build: the sources run");
});
