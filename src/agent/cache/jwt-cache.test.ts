import assert from "node:assert/strict";
import { test } from "node:test";
import { createBundleSet } from "../../spiffe/bundle.js";
import { validateJwtSvid } from "../../spiffe/jwt-svid.js";
import { createAgentHarness } from "../../../test/support/sync-harness.js";
import { createTestServer } from "../../../test/support/fake-agent-server.js";

const WEB = "spiffe://example.org/web";
const codeOf = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

test("JWT-SVIDs are cached per (SPIFFE ID, audience set) and re-minted once past half-life", async (t) => {
  const server = await createTestServer({ jwtSvidTtlSeconds: 300 });
  server.putEntry({ id: "web", spiffeId: WEB });
  const h = createAgentHarness(server);
  t.after(() => h.loop.stop());
  h.loop.start();
  await h.settle();
  const first = await h.cache.mintJwtSvid(WEB, ["b", "a"]);
  assert.equal(first.expiresAt - first.issuedAt, 300_000);
  assert.equal((await h.cache.mintJwtSvid(WEB, ["a", "b", "a"])).token, first.token, "audience order and duplicates do not matter");
  assert.notEqual((await h.cache.mintJwtSvid(WEB, ["a"])).token, first.token, "another audience set is another token");
  assert.equal(server.counts.jwt, 2);

  await h.advance(149_000, 7_000);
  assert.equal((await h.cache.mintJwtSvid(WEB, ["a", "b"])).token, first.token, "still before half-life");
  await h.advance(2_000);
  const second = await h.cache.mintJwtSvid(WEB, ["a", "b"]);
  assert.notEqual(second.token, first.token, "past half-life: re-minted");
  assert.equal(server.counts.jwt, 3);
  const info = await validateJwtSvid(second.token, createBundleSet([h.cache.bundles().own]), { audience: "b", now: server.clock.now() });
  assert.equal(info.spiffeId.toString(), WEB);
});

test("JWT cache: concurrent misses share one mint, failures are not cached, entry changes drop tokens", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  const h = createAgentHarness(server);
  t.after(() => h.loop.stop());
  h.loop.start();
  await h.settle();
  const [a, b] = await Promise.all([h.cache.mintJwtSvid(WEB, ["x"]), h.cache.mintJwtSvid(WEB, ["x"])]);
  assert.equal(a.token, b.token);
  assert.equal(server.counts.jwt, 1);

  server.down = true;
  await assert.rejects(h.cache.mintJwtSvid(WEB, ["y"]), codeOf("ERR_AGENT_SERVER_UNREACHABLE"));
  server.down = false;
  await h.cache.mintJwtSvid(WEB, ["y"]);
  assert.equal(server.counts.jwt, 2, "the failed mint was retried, not cached");

  server.putEntry({ id: "web", spiffeId: WEB, jwtSvidTtl: 60 });
  await h.advance(5_000);
  const shorter = await h.cache.mintJwtSvid(WEB, ["x"]);
  assert.notEqual(shorter.token, a.token, "an entry change drops its cached tokens");
  assert.equal(shorter.expiresAt - shorter.issuedAt, 60_000);

  server.removeEntry("web");
  await h.advance(5_000);
  await assert.rejects(h.cache.mintJwtSvid(WEB, ["x"]), codeOf("ERR_WORKLOAD_NO_IDENTITY"));
});
