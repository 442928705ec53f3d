import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import * as x509pop from "../../agent/nodeattestors/x509pop/index.js";
import { serverSpiffeId } from "../registration/entry.js";
import { ERROR_CODE_HEADER, RETRY_AFTER_HEADER } from "./errors.js";
import { createRateLimiter } from "./rate-limit.js";
import { attest, makeCsr, nodeCertificate, startHarness, TD, type Harness } from "../../../test/support/agentapi-harness.js";

let h: Harness;
before(async () => {
  h = await startHarness({ signingsPerSecond: 3 });
});
after(() => h.close());

function exhausted(retryAfter: string) {
  return (err: unknown) => {
    const ce = ConnectError.from(err);
    assert.equal(ce.code, Code.ResourceExhausted, ce.message);
    assert.equal(ce.metadata.get(ERROR_CODE_HEADER), "ERR_RESOURCE_EXHAUSTED");
    assert.equal(ce.metadata.get(RETRY_AFTER_HEADER), retryAfter);
    return true;
  };
}

test("rate limiter: bursts up to the rate, refills over time, debt from a large request is paid back", () => {
  const clock = createFakeClock(0);
  const rl = createRateLimiter({ perSecond: 2, clock, what: "things" });
  rl.take("a");
  rl.take("a");
  assert.throws(() => rl.take("a"), (err) => (err as { details: { retryAfterSeconds: number } }).details.retryAfterSeconds === 1);
  rl.take("b");
  clock.advance(500);
  rl.take("a");
  clock.advance(1000);
  rl.take("a", 5); // a full-enough bucket admits a larger request and goes into debt
  clock.advance(1000);
  assert.throws(() => rl.take("a"));
  clock.advance(1000);
  rl.take("a");
  assert.throws(() => createRateLimiter({ perSecond: 0, clock, what: "x" }), TypeError);
});

test("attestation: 1/s per agent identity, answered with ResourceExhausted and retry-after", async () => {
  const cert = nodeCertificate(h.nodeCa, "node-fast");
  const plugin = x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey });
  await attest(h.client(), plugin);
  await assert.rejects(attest(h.client(), plugin), exhausted("1"));
  // Another node is not affected.
  const other = nodeCertificate(h.nodeCa, "node-other");
  await attest(h.client(), x509pop.createX509PopAgentAttestor({ certificateChainDer: [other.der], privateKey: other.privateKey }));
  h.clock.advance(1000);
  await attest(h.client(), plugin);
});

test("signing: the configured per-agent rate covers CSRs, JWT-SVIDs and renewals", async () => {
  const cert = nodeCertificate(h.nodeCa, "node-signer");
  const { svid, privateKey } = await attest(h.client(), x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey }));
  const client = h.client({ chainDer: svid.svid!.certChain, privateKey });
  const alias = h.entries.put({ spiffeId: `spiffe://${TD}/nodes/signer`, parentId: serverSpiffeId(TD), selectors: [{ type: "x509pop", value: "subject:cn:node-signer" }] });
  const e = h.entries.put({ spiffeId: `spiffe://${TD}/signer-workload`, parentId: alias.spiffeId, selectors: [{ type: "unix", value: "uid:5" }] });
  const csr = async () => ({ entryId: e.id, csr: (await makeCsr({ uris: [e.spiffeId] })).der });
  const batch = await client.batchSignX509Svid({ requests: [await csr(), await csr(), await csr()] });
  assert.deepEqual(batch.results.map((r) => r.status!.code), ["", "", ""]);
  await assert.rejects(client.mintJwtSvid({ entryId: e.id, audience: ["a"] }), exhausted("1"));
  await assert.rejects(client.batchSignX509Svid({ requests: [await csr()] }), exhausted("1"));
  h.clock.advance(1000);
  await client.mintJwtSvid({ entryId: e.id, audience: ["a"] });
});
