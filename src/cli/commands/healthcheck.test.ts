// `spindle agent healthcheck` against a real agent that is up but cannot reach any server (it keeps
// retrying node attestation): exit 1 with the agent's reason, in text and JSON. The ready and the
// stopped cases run against real processes in test/integration/agent-metrics.test.ts.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createAgent } from "../../agent/agent.js";
import * as joinToken from "../../agent/nodeattestors/join-token/index.js";
import { systemClock } from "../../common/clock.js";
import { createSilentLogger } from "../../common/logger.js";
import { runCli } from "../program.js";

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
  return { code, out, err };
}

function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

test("agent healthcheck exits 1 with the reason while the agent is still attesting", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-agent-healthcheck-"));
  const adminSocket = join(dir, "private", "admin.sock");
  const agent = createAgent({
    trustDomain: "example.org",
    serverAddresses: [`127.0.0.1:${await deadPort()}`],
    socketPath: join(dir, "public", "api.sock"),
    adminSocketPath: adminSocket,
    dataDir: join(dir, "data"),
    nodeAttestor: joinToken.createJoinTokenAgentAttestor({ token: "healthcheck-test-token-0000" }),
    insecureBootstrap: true,
    workloadAttestors: [{ name: "unix", attest: async () => [{ type: "unix", value: "uid:0" }] }],
    logger: createSilentLogger(),
    clock: systemClock,
  });
  const started = agent.start().catch((err: unknown) => err);
  try {
    let r = await cli("agent", "healthcheck", "--admin-socket", adminSocket);
    for (let i = 0; i < 200 && r.err.includes("ERR_AGENT_ADMIN_UNREACHABLE"); i++) {
      await new Promise((res) => setTimeout(res, 50));
      r = await cli("agent", "healthcheck", "--admin-socket", adminSocket);
    }
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, "Agent (not attested yet) is NOT ready: attesting\n", r.err);
    const j = await cli("agent", "healthcheck", "--admin-socket", adminSocket, "--output", "json");
    assert.equal(j.code, 1, j.err);
    assert.deepEqual(JSON.parse(j.out), { ready: false, reason: "attesting", agentId: null, entries: 0, agentSvidExpiresAt: null, sync: { failures: 0 } });
  } finally {
    await agent.stop();
    await started;
    rmSync(dir, { recursive: true, force: true });
  }
});
