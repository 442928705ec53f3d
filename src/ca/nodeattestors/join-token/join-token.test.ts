import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { SpindleError } from "../../../common/index.js";
import { createFakeClock } from "../../../../test/support/fake-clock.js";
import { parseTrustDomain, selectorProblem } from "../../../spiffe/index.js";
import * as agentSide from "../../../agent/nodeattestors/join-token/index.js";
import { createMemoryJoinTokens } from "../../agentapi/memory-stores.js";
import type { ChallengeFn } from "../plugin.js";
import { createJoinTokenAttestor, joinTokenAgentId, joinTokenId, parseJoinTokenServerConfig } from "./index.js";

const TD = parseTrustDomain("example.org");
const TOKEN = "tok_abcdefghijklmnopqrstuvwxyz012345";
const never: ChallengeFn = async () => assert.fail("join_token never challenges");
const ok = async () => {};

function setup() {
  const clock = createFakeClock(Date.UTC(2026, 0, 1));
  const tokens = createMemoryJoinTokens(clock);
  return { clock, tokens, plugin: createJoinTokenAttestor({ trustDomain: TD, tokens }) };
}

async function payload(token: string) {
  return agentSide.createJoinTokenAgentAttestor(agentSide.parseJoinTokenAgentConfig({ token })).payload();
}

const failed = (err: unknown) => err instanceof SpindleError && err.code === "ERR_NODE_ATTESTATION_FAILED";

test("join_token: a valid token attests once; the agent ID carries the token's hash id, never the token", async () => {
  const { clock, tokens, plugin } = setup();
  await tokens.createJoinToken(TOKEN, clock.now() + 600_000);
  const r = await plugin.attest(await payload(TOKEN), never, ok);
  const id = createHash("sha256").update(TOKEN).digest("hex").slice(0, 32);
  assert.equal(joinTokenId(TOKEN), id);
  assert.equal(r.agentId, `spiffe://example.org/spindle/agent/join_token/${id}`);
  assert.equal(r.agentId, joinTokenAgentId(TD, TOKEN));
  assert.ok(!r.agentId.includes(TOKEN));
  assert.equal(r.canReattest, false);
  assert.deepEqual(r.selectors, []);
});

test("join_token: a token generated with a node alias gives its agent the join_token:spiffe_id selector", async () => {
  const { clock, tokens, plugin } = setup();
  await tokens.createJoinToken(TOKEN, clock.now() + 600_000, "spiffe://example.org/node/web-1");
  const r = await plugin.attest(await payload(TOKEN), never, ok);
  assert.equal(r.agentId, joinTokenAgentId(TD, TOKEN));
  assert.deepEqual(r.selectors, [{ type: "join_token", value: "spiffe_id:spiffe://example.org/node/web-1" }]);
  assert.deepEqual(r.selectors.map(selectorProblem), [undefined]);
});

test("join_token: a replayed token is refused", async () => {
  const { clock, tokens, plugin } = setup();
  await tokens.createJoinToken(TOKEN, clock.now() + 600_000);
  await plugin.attest(await payload(TOKEN), never, ok);
  await assert.rejects(plugin.attest(await payload(TOKEN), never, ok), (err) => failed(err) && /already used/.test((err as Error).message));
});

test("join_token: an expired token is refused", async () => {
  const { clock, tokens, plugin } = setup();
  await tokens.createJoinToken(TOKEN, clock.now() + 600_000);
  clock.advance(600_000);
  await assert.rejects(plugin.attest(await payload(TOKEN), never, ok), (err) => failed(err) && /expired/.test((err as Error).message));
});

test("join_token: unknown and malformed tokens are refused without consuming anything", async () => {
  const { plugin } = setup();
  await assert.rejects(plugin.attest(await payload("unknown_token_0123456789"), never, ok), failed);
  await assert.rejects(plugin.attest(await payload("short"), never, ok), failed);
  await assert.rejects(plugin.attest(Buffer.from("not json"), never, ok), (err) => SpindleError.is(err, "ERR_NODE_ATTESTATION_PROTOCOL"));
});

test("join_token: a refusal in beforeCommit (a banned agent) leaves the token unused", async () => {
  const { clock, tokens, plugin } = setup();
  await tokens.createJoinToken(TOKEN, clock.now() + 600_000);
  const banned = async () => {
    throw new SpindleError("ERR_AGENT_BANNED", "banned");
  };
  await assert.rejects(plugin.attest(await payload(TOKEN), never, banned), (err) => SpindleError.is(err, "ERR_AGENT_BANNED"));
  await plugin.attest(await payload(TOKEN), never, ok);
});

test("join_token config: the server block takes no keys; the agent block needs a token", async () => {
  assert.deepEqual(parseJoinTokenServerConfig(undefined), {});
  assert.deepEqual(parseJoinTokenServerConfig({}), {});
  assert.throws(() => parseJoinTokenServerConfig({ ttl: 5 }), (err) => SpindleError.is(err, "ERR_CONFIG_INVALID") && /ttl: unknown key/.test((err as Error).message));
  assert.throws(() => agentSide.parseJoinTokenAgentConfig({ tokn: "x" }), (err) => ((err as SpindleError).details["problems"] as string[]).length === 2);
  const agent = agentSide.createJoinTokenAgentAttestor({ token: TOKEN });
  await assert.rejects(agent.answer(Buffer.from("x")), (err) => SpindleError.is(err, "ERR_NODE_ATTESTATION_PROTOCOL"));
});
