// kill -9 of the agent while go-spiffe watchers (the official Go SDK, test/integration/interop/go,
// `watch-x509`) are attached: the agent restarts on the same data dir and socket, and every
// watcher gets an SVID again on its own (go-spiffe reconnects with its backoff). Prints the time
// from the kill and from the restart to each watcher's first SVID.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { mustRun, startLines, type LineProcess } from "../interop/sdk-programs.js";
import { reportTiming, startFaultDomain, WORKLOAD_ID, type FaultDomain } from "./harness.js";
import { fileURLToPath } from "node:url";

const WATCHERS = 3;
let d: FaultDomain | undefined;
const watchers: LineProcess[] = [];
after(async () => {
  for (const w of watchers) w.child.kill("SIGKILL");
  await d?.close();
});

async function nextUpdate(w: LineProcess): Promise<Record<string, unknown>> {
  for (;;) {
    const line = await w.next();
    if (line["event"] === "x509-update") return line;
  }
}

test("go-spiffe watchers get SVIDs again after kill -9 and restart of the agent", { timeout: 240_000 }, async () => {
  const goDir = fileURLToPath(new URL("../interop/go", import.meta.url));
  const goBin = join(goDir, "bin", "interop-faults");
  await mustRun("go", ["build", "-o", goBin, "."], { cwd: goDir, env: { GOFLAGS: "-mod=mod -buildvcs=false" }, timeoutMs: 600_000 });
  d = await startFaultDomain();
  const dom = d;
  await dom.startAgent();
  for (let i = 0; i < WATCHERS; i++) watchers.push(startLines(goBin, ["watch-x509", "-duration", "200s"], { SPIFFE_ENDPOINT_SOCKET: `unix://${dom.publicSocket}` }));
  for (const w of watchers) assert.equal((await nextUpdate(w))["spiffe_id"], WORKLOAD_ID);

  const killedAt = Date.now();
  assert.equal(await dom.agent!.stop("SIGKILL"), null, "killed");
  const restartAt = Date.now();
  await dom.startAgent();
  const startedAt = Date.now();
  const firsts = await Promise.all(watchers.map(async (w) => {
    const u = await nextUpdate(w);
    assert.equal(u["spiffe_id"], WORKLOAD_ID);
    return Number(u["at_ms"]);
  }));
  const fromKill = firsts.map((t) => t - killedAt);
  const fromRestart = firsts.map((t) => t - restartAt);
  reportTiming("agent-kill9-go-spiffe-watchers", {
    watchers: WATCHERS,
    agentRestartToAttestedMs: startedAt - restartAt,
    firstSvidAfterKillMsMax: Math.max(...fromKill),
    firstSvidAfterRestartMsMin: Math.min(...fromRestart),
    firstSvidAfterRestartMsMax: Math.max(...fromRestart),
  });
  assert.ok(Math.max(...fromRestart) < 60_000, `every watcher had an SVID within 60 s of the restart (${fromRestart.join(", ")} ms)`);
});
