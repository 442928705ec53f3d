import assert from "node:assert/strict";
import { test } from "node:test";
import { spindleError } from "../../common/errors.js";
import { AGENT_ID, createTestServer, seededRandom, type TestServer } from "../../../test/support/fake-agent-server.js";
import { generateWorkloadKey } from "../cache/workload-key.js";
import { agentSvidOf, createAgentSvidManager, type AgentSvid, type AgentSvidManager } from "./agent-svid.js";
import { captureLogger } from "../../../test/support/sync-harness.js";

/** What node attestation would hand the agent: an SVID for AGENT_ID from the CA. */
async function attest(server: TestServer): Promise<AgentSvid> {
  const key = await generateWorkloadKey("ec-p256");
  const minted = server.ca.mintX509Svid({ spiffeId: AGENT_ID, publicKey: key.publicKey });
  return agentSvidOf(AGENT_ID, minted.chain, key, minted.authorityId, server.clock.now());
}

/** Waits (real event-loop turns: keys come from the thread pool) until no attempt is running. */
async function idle(m: AgentSvidManager): Promise<void> {
  for (let i = 0; i < 2000 && m.nextAttemptAt === undefined; i++) await new Promise((r) => setTimeout(r, 1));
  assert.notEqual(m.nextAttemptAt, undefined, "the attempt finished and scheduled the next one");
}

async function setup(overrides: { renewFails?: string } = {}) {
  const server = await createTestServer();
  const { logger, lines } = captureLogger();
  let reattests = 0;
  const client = {
    renewAgentSvid: (csr: Uint8Array) =>
      overrides.renewFails ? Promise.reject(spindleError(overrides.renewFails as "ERR_PERMISSION_DENIED", "agent is banned")) : server.renewAgentSvid(csr),
  };
  const m = createAgentSvidManager({
    client,
    initial: await attest(server),
    reattest: async () => {
      reattests++;
      if (server.down) throw spindleError("ERR_AGENT_SERVER_UNREACHABLE", "attestation: server down");
      return attest(server);
    },
    clock: server.clock,
    logger,
    random: seededRandom(7),
  });
  const rotations: AgentSvid[] = [];
  m.onRotate((s) => rotations.push(s));
  return { server, m, lines, rotations, reattests: () => reattests };
}

test("agent SVID: renewed at half-life +-10% with a fresh key, three times", async (t) => {
  const { server, m, rotations } = await setup();
  t.after(() => m.stop());
  m.start();
  for (let i = 0; i < 3; i++) {
    const svid = m.current();
    const at = m.nextAttemptAt!;
    const fraction = (at - svid.notBefore) / (svid.notAfter - svid.notBefore);
    assert.ok(fraction >= 0.45 && fraction <= 0.55, `renewal at ${fraction} of the lifetime`);
    server.clock.advance(at - server.clock.now() - 1);
    assert.equal(m.current(), svid, "not before its time");
    server.clock.advance(1);
    await idle(m);
    assert.notEqual(m.current(), svid);
    assert.ok(!m.current().key.spkiDer.equals(svid.key.spkiDer));
    assert.equal(m.current().spiffeId, AGENT_ID);
  }
  assert.equal(rotations.length, 3);
  assert.equal(server.counts.agent, 3);
});

test("agent SVID: server down past expiry -> retries with backoff, then re-attests when it is back", async (t) => {
  const { server, m, lines, rotations, reattests } = await setup();
  t.after(() => m.stop());
  m.start();
  const svid = m.current();
  server.down = true;
  server.clock.advance(m.nextAttemptAt! - server.clock.now());
  await idle(m);
  assert.equal(lines.filter((l) => l.level === "warn" && /renewal failed/.test(l.msg)).length, 1);
  while (server.clock.now() < svid.notAfter) {
    assert.ok(m.nextAttemptAt! <= svid.notAfter, "never sleeps past expiry");
    server.clock.advance(m.nextAttemptAt! - server.clock.now());
    await idle(m);
  }
  assert.equal(lines.filter((l) => l.level === "warn" && /renewal failed/.test(l.msg)).length, 1, "logged once per streak");
  assert.ok(lines.some((l) => l.code === "ERR_AGENT_SVID_EXPIRED"));
  assert.ok(reattests() >= 1);
  assert.equal(rotations.length, 0);
  server.down = false;
  server.clock.advance(m.nextAttemptAt! - server.clock.now());
  await idle(m);
  assert.equal(rotations.length, 1);
  assert.ok(m.current().notAfter > server.clock.now());
  assert.ok(lines.some((l) => l.how === "re-attestation" && l.msg === "agent SVID rotated"));
});

test("agent SVID: a refusal re-attests at once; a tainted signer renews at once", async (t) => {
  const refused = await setup({ renewFails: "ERR_PERMISSION_DENIED" });
  t.after(() => refused.m.stop());
  await refused.m.renewNow();
  assert.equal(refused.reattests(), 1);
  assert.equal(refused.rotations.length, 1);

  const { m, rotations, server } = await setup();
  t.after(() => m.stop());
  m.start();
  m.setTainted(["some-other-authority"]);
  assert.notEqual(m.nextAttemptAt, undefined, "other authorities do not matter");
  m.setTainted([m.current().authorityId]);
  await idle(m);
  assert.equal(rotations.length, 1);
  assert.equal(server.counts.agent, 1);
});
