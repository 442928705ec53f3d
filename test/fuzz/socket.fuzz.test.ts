// Fuzzes the agent's public socket (a real socket server in its own process, socket-target.ts)
// from an unregistered caller: raw bytes, malformed HTTP/2 frames, and mutated protobuf to every
// Workload API, SDS and ECDS method (socket-driver.ts, run as uid 65534 when we are root). After
// every batch the agent is alive, serves a registered caller an X.509-SVID that validates, and
// its RSS stays bounded. FUZZ_COUNT inputs per surface, FUZZ_SEED reproduces a run.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, it } from "node:test";
import { startSocketTarget, type SocketTarget } from "./harness.js";
import { fuzzCount, fuzzSeed, printSummary, result, type SurfaceResult } from "./mutate.js";

const seed = fuzzSeed();
const count = fuzzCount();
const BATCHES = 4;
const DRIVER = fileURLToPath(new URL("./socket-driver.ts", import.meta.url));
const asRoot = process.getuid?.() === 0;
const results: SurfaceResult[] = [];
const rss: Record<string, number[]> = {};
let target: SocketTarget;

process.stdout.write(`fuzz socket: seed ${seed} (FUZZ_SEED=${seed} reproduces), ${count} inputs per surface, client ${asRoot ? "uid 65534 (unregistered)" : "our own uid"}\n`);
before(async () => {
  target = await startSocketTarget();
  await target.assertServesSvid();
  startDriver();
});
after(async () => {
  driver.stdin.end();
  await target.stop();
  printSummary("socket", results);
  process.stdout.write(`FUZZ_RSS ${JSON.stringify(rss)}\n`);
});

type Answer = { inputs: number; accepted: number };
let driver: ChildProcessWithoutNullStreams;
let driverErr = "";
const answers: ((a: Answer) => void)[] = [];

function startDriver(): void {
  driver = spawn(process.execPath, ["--import", "tsx", DRIVER, target.socketPath], { stdio: "pipe", ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
  let out = "";
  driver.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
      answers.shift()?.(JSON.parse(out.slice(0, nl)) as Answer);
      out = out.slice(nl + 1);
    }
  });
  driver.stderr.on("data", (d: Buffer) => void (driverErr = (driverErr + d.toString()).slice(-10_000)));
}

function drive(surface: string, inputs: number, batchSeed: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`fuzz driver exited ${code} during ${surface}:\n${driverErr}`));
    driver.once("exit", onExit);
    answers.push((a) => {
      driver.off("exit", onExit);
      resolve(a);
    });
    driver.stdin.write(`${surface} ${inputs} ${batchSeed}\n`);
  });
}

async function fuzzSurface(surface: string): Promise<void> {
  const start = Date.now();
  let inputs = 0;
  let accepted = 0;
  const sizes: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const batchSeed = (seed + b * 7919 + surface.length * 104729) >>> 0;
    const r = await drive(surface, Math.ceil(count / BATCHES), batchSeed);
    inputs += r.inputs;
    accepted += r.accepted;
    assert.ok(target.alive(), `the agent died during ${surface} batch ${b} (driver seed ${batchSeed}):\n${target.stderr()}`);
    await target.assertServesSvid();
    sizes.push(await target.rss());
  }
  rss[surface] = sizes.map((s) => Math.round(s / 2 ** 20));
  // Bounded: after the first batch (caches, JIT, pools warmed up) RSS may not keep climbing.
  const first = sizes[0]!;
  const last = sizes[sizes.length - 1]!;
  assert.ok(last <= Math.max(first * 1.5, first + 100 * 2 ** 20), `${surface}: RSS grew from ${first} to ${last} bytes across batches (${rss[surface]!.join(", ")} MiB)`);
  assert.doesNotMatch(target.stderr(), /uncaught|ERR_HTTP2_INVALID_STREAM/i);
  results.push(result(surface, inputs, accepted, start, seed));
}

for (const surface of ["raw-bytes", "h2-frames", "workload-api", "sds", "ecds"]) {
  it(`survives ${surface}`, { timeout: 300_000 }, () => fuzzSurface(surface));
}
