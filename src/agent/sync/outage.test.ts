// A server outage longer than a workload's SVID lifetime (fake clock, real in-process CA): the
// workload is known, so it gets Unavailable with the reason in the log, never PermissionDenied;
// a caller without a matching entry still gets PermissionDenied; and once the server is back, the
// refused calls make the agent retry at once instead of after its (up to 60 s) backoff.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { SpindleError } from "../../common/errors.js";
import { parseSelector } from "../../spiffe/selector.js";
import { createWorkloadApiIdentitySource } from "../cache/workload-api-source.js";
import { createTestServer } from "../../../test/support/fake-agent-server.js";
import { createCallerResolver } from "../workload-api/caller.js";
import { captureLogger, createAgentHarness } from "../../../test/support/sync-harness.js";

const WEB = "spiffe://example.org/web";

function refusal(f: () => unknown): SpindleError {
  try {
    f();
  } catch (err) {
    return SpindleError.from(err);
  }
  assert.fail("expected the call to be refused");
}

test("SVID expired while the server is down: Unavailable naming the entry and the outage, then back within a second of the server", async (t) => {
  const server = await createTestServer({ x509SvidTtlSeconds: 60 });
  server.putEntry({ id: "web", spiffeId: WEB, selectors: [parseSelector("unix:uid:1000")] });
  const h = createAgentHarness(server);
  t.after(() => h.loop.stop());
  h.loop.start();
  await h.settle();
  const source = createWorkloadApiIdentitySource(h.cache, { status: () => h.loop.status(), nudge: () => h.loop.nudge() });
  const { logger, lines } = captureLogger();
  let uid = 1000;
  const resolver = createCallerResolver({
    source,
    attestor: { attest: async (peer) => [parseSelector(`unix:uid:${peer.uid}`)] },
    peerCredentials: () => ({ pid: 4242, uid, gid: uid }),
  });
  const metadata = new grpc.Metadata();
  metadata.set("workload.spiffe.io", "true");
  const call = { metadata, getPeer: () => "unix" };
  const web = await resolver.resolve(call, logger);
  assert.equal(resolver.identities(web)[0]!.spiffeId, WEB);
  const svid = h.cache.svidOf("web")!;

  server.down = true;
  const downAt = server.clock.now();
  while (server.clock.now() <= svid.notAfter + 5_000) await h.advance(1_000);
  const e = refusal(() => resolver.identities(web));
  assert.equal(e.code, "ERR_WORKLOAD_SVID_PENDING");
  assert.equal(e.grpcStatus, grpc.status.UNAVAILABLE, "retryable, not PermissionDenied");
  assert.doesNotMatch(e.message, /registration entry/);
  const why = lines.find((l) => l.msg.includes("answering Unavailable"));
  assert.ok(why, "the refusal is logged with its reason");
  assert.match(why.msg, new RegExp(`entry web \\(${WEB}\\) matches but its SVID expired at ${new Date(svid.notAfter).toISOString()}`));
  assert.match(why.msg, /the server is unreachable since \S+ \(ERR_AGENT_SERVER_UNREACHABLE\)/);
  assert.ok(Date.parse(String(why["serverUnreachableSince"])) >= downAt);

  uid = 2000;
  const stranger = await resolver.resolve(call, logger);
  assert.equal(refusal(() => resolver.identities(stranger)).code, "ERR_WORKLOAD_NO_IDENTITY", "no matching entry is still PermissionDenied");

  // Long enough down that the loop's backoff grew to tens of seconds.
  await h.advance(120_000, 5_000);
  server.down = false;
  const backAt = server.clock.now();
  refusal(() => resolver.identities(web));
  await h.settle();
  await h.advance(1_000);
  const served = resolver.identities(web);
  assert.equal(served[0]!.spiffeId, WEB);
  assert.ok(server.clock.now() - backAt <= 2_000, `served ${server.clock.now() - backAt} ms after the server came back`);
  assert.ok(h.cache.svidOf("web")!.notAfter > server.clock.now(), "a fresh SVID");
});
