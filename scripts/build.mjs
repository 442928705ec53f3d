#!/usr/bin/env node
// Compiles src/**/*.ts (tests excluded) to dist/**/*.js, one output file per source, so that
// `bin/spindle.js` loads plain JavaScript instead of transpiling TypeScript on every start.
// Type checking stays with `tsc --noEmit` (npm run typecheck); this only strips types, which is
// what esbuild (shipped inside tsx, which is a runtime dependency already) does in well under a
// second for the whole tree. A file is rewritten unless its source has exactly the mtime and size
// recorded for it by the last build (an edit during a build, or sources restored with older
// mtimes, are both seen as changes), and outputs whose source is gone are removed. `--quiet` prints nothing unless something fails.
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const srcDir = join(root, "src");
const distDir = join(root, "dist");
const quiet = process.argv.includes("--quiet");
// esbuild is tsx's own dependency: resolve it from there rather than from the top level.
const requireFromTsx = createRequire(createRequire(import.meta.url).resolve("tsx/package.json"));
const esbuild = requireFromTsx("esbuild");

function walk(dir, out = []) {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) walk(p, out);
    else if (ent.name.endsWith(".ts") && !ent.name.endsWith(".test.ts") && !ent.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const started = process.hrtime.bigint();
// Taken before reading any source: an edit made while this runs is newer than the build.
const startedMs = Date.now();
const sources = walk(srcDir);
let previous = {};
try {
  previous = JSON.parse(readFileSync(join(distDir, "build-info.json"), "utf8")).sources ?? {};
} catch {
  // first build
}
const recorded = {};
const wanted = new Set();
let written = 0;
for (const src of sources) {
  const rel = relative(srcDir, src).replace(/\.ts$/, ".js");
  const out = join(distDir, rel);
  wanted.add(out);
  const st = statSync(src);
  const stamp = [st.mtimeMs, st.size];
  recorded[rel] = stamp;
  const was = previous[rel];
  if (was && was[0] === stamp[0] && was[1] === stamp[1] && existsSync(out)) continue;
  const result = await esbuild.build({
    entryPoints: [src],
    outfile: out,
    format: "esm",
    platform: "node",
    target: "node20",
    bundle: false,
    write: false,
    logLevel: "silent",
  });
  mkdirSync(dirname(out), { recursive: true });
  // Written beside and renamed: a process loading dist/ meanwhile sees the old or the new file.
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, out);
  written++;
}
let removed = 0;
(function prune(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const ent of entries) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) prune(p);
    else if (p.endsWith(".js") && !wanted.has(p)) {
      rmSync(p);
      removed++;
    }
  }
})(distDir);
// When this build started: bin/spindle.js runs the sources instead of dist/ if any source is newer.
const infoTmp = join(distDir, `build-info.json.${process.pid}.tmp`);
writeFileSync(infoTmp, JSON.stringify({ builtAtMs: startedMs, sources: recorded }) + "\n");
renameSync(infoTmp, join(distDir, "build-info.json"));
const ms = Number(process.hrtime.bigint() - started) / 1e6;
if (!quiet || written > 0) process.stderr.write(`build: ${written} of ${sources.length} files compiled to dist/, ${removed} removed (${ms.toFixed(0)} ms)\n`);
