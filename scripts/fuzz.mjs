#!/usr/bin/env node
// `npm run fuzz [-- --count N] [--seed S]`: the fuzz suites (test/fuzz/) with more inputs than the
// 20,000 per surface `npm test` runs. FUZZ_COUNT / FUZZ_SEED in the environment work too. Each
// suite prints its seed first and a `FUZZ_SUMMARY {...}` JSON line (inputs, inputs/s per surface).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const env = { ...process.env };
env.FUZZ_COUNT = flag("--count") ?? env.FUZZ_COUNT ?? "200000";
const seed = flag("--seed") ?? env.FUZZ_SEED;
if (seed !== undefined) env.FUZZ_SEED = seed;
const root = fileURLToPath(new URL("..", import.meta.url));
const r = spawnSync(process.execPath, ["scripts/run-tests.mjs", "test/fuzz/"], { cwd: root, env, stdio: "inherit" });
process.exit(r.status ?? 1);
