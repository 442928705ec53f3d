// Process start-up, each figure beside the same run's bare `node -e 0`: `spindle --version`,
// `spindle entry show` against a running server, and `spindle server run` (SQLite) from spawn to
// its ready line. Medians of a few runs; bin/spindle.js runs dist/ when it is up to date, so this
// compiles first (scripts/build.mjs) to measure what an installed copy runs.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServerProcess } from "../test/integration/helpers/cli-process.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(root, "bin", "spindle.js");
const RUNS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 10) / 10;
}

function timeProcess(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${args.join(" ")} exited ${code}`))));
  });
}

async function medianOf(args: string[]): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await timeProcess(args));
  return median(xs);
}

export default async function startup(): Promise<Record<string, unknown>> {
  spawnSync(process.execPath, [join(root, "scripts", "build.mjs"), "--quiet"], { stdio: "inherit" });
  const nodeBaselineMs = await medianOf(["-e", "0"]);
  const versionMs = await medianOf([BIN, "--version"]);
  const dir = mkdtempSync(join(tmpdir(), "spindle-bench-startup-"));
  try {
    const readyMs: number[] = [];
    let entryShowMs = 0;
    for (let i = 0; i < RUNS; i++) {
      const admin = join(dir, `s${i}`, "admin.sock");
      const t0 = performance.now();
      const srv = await startServerProcess(["--trust-domain", "example.org", "--data-dir", join(dir, `d${i}`), "--admin-socket", admin, "--bind", "127.0.0.1:0", "--log-level", "warn"]);
      readyMs.push(performance.now() - t0);
      if (i === 0) entryShowMs = await medianOf([BIN, "entry", "show", "--admin-socket", admin]);
      await srv.stop();
    }
    return {
      baseline: { nodeEmptyMs: nodeBaselineMs },
      versionMs,
      versionOverBaseline: Math.round((versionMs / nodeBaselineMs) * 100) / 100,
      entryShowMs,
      serverStartToReadySqliteMs: median(readyMs),
      runs: RUNS,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
