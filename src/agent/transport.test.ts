// The agent's first attestation over the real agent API transport against in-process agent API
// servers (the agentapi harness, fake clock): transient answers (ResourceExhausted with its
// retry-after hint, Unavailable) are retried and failed over to the next server address;
// definitive refusals stay fatal and are not retried anywhere.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SpindleError, spindleError } from "../common/errors.js";
import { createSilentLogger, type Logger } from "../common/logger.js";
import { attest as harnessAttest, nodeCertificate, startHarness, TD, type Harness } from "../../test/support/agentapi-harness.js";
import { startAgentApiServer, type AgentApiServer } from "../ca/agentapi/server.js";
import type { NodeAttestorPlugin } from "../ca/nodeattestors/plugin.js";
import * as joinToken from "./nodeattestors/join-token/index.js";
import type { AgentNodeAttestor } from "./nodeattestors/plugin.js";
import * as x509pop from "./nodeattestors/x509pop/index.js";
import { captureLogger, type LogLine } from "../../test/support/sync-harness.js";
import { attestUntilAnswered, createAgentApiTransport } from "./transport.js";

let h: Harness;
let flaky: AgentApiServer;
let flakyCalls = 0;

/** A replica whose x509pop attestor cannot reach what it depends on: it answers ERR_UNAVAILABLE. */
function unavailableAttestor(): NodeAttestorPlugin {
  return {
    name: "x509pop",
    attest: async () => {
      flakyCalls++;
      throw spindleError("ERR_UNAVAILABLE", "x509pop: the node CA store could not be read (test)");
    },
  };
}

before(async () => {
  h = await startHarness({ attestationsPerSecond: 0.1 });
  flaky = await startAgentApiServer({
    trustDomain: TD,
    ca: h.ca,
    attestors: new Map([["x509pop", unavailableAttestor()], ["join_token", unavailableAttestor()]]),
    agents: h.agents,
    entries: h.entries,
    clock: h.clock,
    logger: createSilentLogger(),
    host: "127.0.0.1",
    port: 0,
  });
});

after(async () => {
  await flaky?.close();
  await h?.close();
});

function run(addresses: string[], nodeAttestor: AgentNodeAttestor, logger: Logger) {
  const transport = createAgentApiTransport({
    serverAddresses: addresses,
    trustDomain: TD,
    nodeAttestor,
    trustBundleDer: h.ca.bundleContents().x509Authorities,
    insecureBootstrap: false,
    logger,
    clock: h.clock,
  });
  const result = attestUntilAnswered(transport, { logger, clock: h.clock, attestor: nodeAttestor.name, stopping: () => false, onWait: () => undefined });
  return { transport, result };
}

function x509popAttestor(cn: string): AgentNodeAttestor {
  const cert = nodeCertificate(h.nodeCa, cn);
  return x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey });
}

const retries = (lines: LogLine[]) => lines.filter((l) => /retrying$/.test(l.msg));

async function until<T>(check: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("ResourceExhausted at first attestation is retried no earlier than the server's retry-after hint, then the node attests", async () => {
  const plugin = x509popAttestor("node-rate-limited");
  // Spend this node's attestation budget (0.1/s): the agent's first attempt is rate limited.
  await harnessAttest(h.client(), plugin);
  const { logger, lines } = captureLogger();
  const { transport, result } = run([`127.0.0.1:${h.server.address.port}`], plugin, logger);
  try {
    const first = await until(() => retries(lines)[0], "the first retry to be logged");
    assert.equal(first.code, "ERR_RESOURCE_EXHAUSTED");
    assert.equal(first.retryAfterMs, 10_000, "the server's hint");
    assert.ok((first.retryInMs as number) >= 10_000, `waits the hinted 10 s, not the 1 s backoff (${String(first.retryInMs)})`);
    assert.match(String(first.reason), /too many node attestations/);

    h.clock.advance(9_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(retries(lines).length, 1, "no attempt before the hint elapsed");
    h.clock.advance(1_500);
    const r = await result;
    assert.match(r.svid.spiffeId, /^spiffe:\/\/example\.org\/spindle\/agent\/x509pop\//);
    assert.equal(retries(lines).length, 1);
  } finally {
    transport.close();
  }
});

test("two server addresses where the first answers Unavailable: the node attests through the second, with the failover logged", async () => {
  const { logger, lines } = captureLogger();
  const before = flakyCalls;
  const { transport, result } = run([`127.0.0.1:${flaky.address.port}`, `127.0.0.1:${h.server.address.port}`], x509popAttestor("node-failover"), logger);
  try {
    const r = await result;
    assert.match(r.svid.spiffeId, /\/spindle\/agent\/x509pop\//);
    assert.equal(flakyCalls, before + 1, "the first replica was asked once");
    const transient = lines.find((l) => l.msg === "server address answered with a transient error; trying the next one");
    assert.equal(transient?.code, "ERR_UNAVAILABLE");
    assert.ok(lines.some((l) => l.msg === "failed over to another server address"));
    assert.equal(retries(lines).length, 0, "the second address answered at once: no backoff");
  } finally {
    transport.close();
  }
});

test("only a replica answering Unavailable: retried with backoff (each retry logged with its reason) until stopped", async () => {
  const { logger, lines } = captureLogger();
  let stopping = false;
  const cancels: (() => void)[] = [];
  const transport = createAgentApiTransport({
    serverAddresses: [`127.0.0.1:${flaky.address.port}`],
    trustDomain: TD,
    nodeAttestor: x509popAttestor("node-unavailable"),
    trustBundleDer: h.ca.bundleContents().x509Authorities,
    insecureBootstrap: false,
    logger,
    clock: h.clock,
  });
  const result = attestUntilAnswered(transport, { logger, clock: h.clock, attestor: "x509pop", stopping: () => stopping, onWait: (c) => cancels.push(c) });
  try {
    await until(() => retries(lines)[0], "the first retry");
    h.clock.advance(1_300);
    const second = await until(() => retries(lines)[1], "the second retry");
    assert.equal(second.code, "ERR_UNAVAILABLE");
    assert.match(String(second.reason), /node CA store could not be read/);
    assert.equal(second.attempt, 2);
    assert.ok((second.retryInMs as number) >= 1_600, "the backoff grows");
    stopping = true;
    cancels.forEach((c) => c());
    await assert.rejects(result, (e) => SpindleError.is(e, "ERR_AGENT_START") && /stopped before the node was attested/.test(e.message));
  } finally {
    transport.close();
  }
});

test("an invalid join token stays fatal: ERR_AGENT_START at once, no retry and no failover", async () => {
  const { logger, lines } = captureLogger();
  const before = flakyCalls;
  const { transport, result } = run(
    [`127.0.0.1:${h.server.address.port}`, `127.0.0.1:${flaky.address.port}`],
    joinToken.createJoinTokenAgentAttestor({ token: "no-such-token-000000000001" }),
    logger,
  );
  try {
    await assert.rejects(result, (e) => SpindleError.is(e, "ERR_AGENT_START") && /ERR_NODE_ATTESTATION_FAILED.*join token is unknown/.test(e.message));
    assert.equal(retries(lines).length, 0);
    assert.equal(flakyCalls, before, "a refusal is not retried on the other replica");
  } finally {
    transport.close();
  }
});
