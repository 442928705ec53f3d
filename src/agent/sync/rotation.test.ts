// Rotation and outages, driven by a fake clock against a real in-process CA.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { createBundleSet } from "../../spiffe/bundle.js";
import { parseSelector } from "../../spiffe/selector.js";
import { validateX509Svid } from "../../spiffe/x509-svid.js";
import { createTestServer } from "../../../test/support/fake-agent-server.js";
import { createAgentHarness, type AgentHarness } from "../../../test/support/sync-harness.js";

const WEB = "spiffe://example.org/web";
const UID = [parseSelector("unix:uid:1000")];

async function started(h: AgentHarness): Promise<void> {
  h.loop.start();
  await h.settle();
  assert.ok(h.cache.ready, "ready after the first sync");
}

function assertValidAt(h: AgentHarness, chain: readonly Uint8Array[], now: number): void {
  validateX509Svid(chain, createBundleSet([h.cache.bundles().own]), { now });
}

test("an SVID is renewed at half-life +-10% three times in a row, each time with a new key", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  const h = createAgentHarness(server);
  t.after(() => h.loop.stop());
  await started(h);
  let svid = h.cache.svidOf("web")!;
  assert.ok(svid);
  const interval = 5_000;
  const fractions: number[] = [];
  for (let round = 1; round <= 3; round++) {
    const life = svid.notAfter - svid.notBefore;
    const renewFraction = (svid.renewAt - svid.notBefore) / life;
    assert.ok(renewFraction >= 0.45 && renewFraction <= 0.55, `round ${round}: renewAt at ${renewFraction} of the lifetime`);
    fractions.push(renewFraction);
    const changesBefore = h.changes.length;
    while (h.cache.svidOf("web") === svid) {
      assert.ok(server.clock.now() < svid.notAfter, `round ${round}: renewed before expiry`);
      await h.advance(1_000);
    }
    const renewedAt = server.clock.now();
    assert.ok(renewedAt >= svid.renewAt, `round ${round}: not renewed before renewAt`);
    assert.ok(renewedAt <= svid.renewAt + interval + 1_000, `round ${round}: renewed within one sync interval of renewAt`);
    const actual = (renewedAt - svid.notBefore) / life;
    assert.ok(actual >= 0.45 && actual <= 0.55 + (interval + 1_000) / life, `round ${round}: renewed at ${actual} of the lifetime`);
    const next = h.cache.svidOf("web")!;
    assert.ok(!Buffer.from(next.key.pkcs8Der).equals(Buffer.from(svid.key.pkcs8Der)), "a fresh key per rotation");
    assert.ok(next.notBefore > svid.notBefore);
    assert.ok(h.changes.slice(changesBefore).some((c) => c.entries.includes("web") && c.spiffeIds.includes(WEB)), "a change event names the rotated entry");
    const [identity] = h.cache.identitiesFor(UID);
    assert.equal(identity!.x509Svid.certChainDer, next.chainDer, "queries serve the new SVID");
    assertValidAt(h, next.chainDer, renewedAt);
    svid = next;
  }
  // Jittered: the renewal points are not the same fraction of the lifetime every time.
  assert.ok(new Set(fractions.map((f) => f.toFixed(4))).size > 1, `fractions ${fractions.join(", ")}`);
  assert.equal(server.batches.length, 4, "one initial signing and three renewals");
});

test("server down longer than a renewal interval: cached SVIDs are served, the failure is logged once, sync recovers", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  const h = createAgentHarness(server);
  t.after(() => h.loop.stop());
  await started(h);
  const svid = h.cache.svidOf("web")!;
  const served = h.cache.identitiesFor(UID)[0]!;
  server.down = true;
  // Past the renewal time (half of 1 h) and well beyond it, but before expiry.
  await h.advance(45 * 60_000, 5_000);
  assert.ok(server.clock.now() > svid.renewAt);
  assert.equal(h.cache.svidOf("web"), svid, "the cached SVID is kept");
  assert.equal(h.cache.identitiesFor(UID)[0], served, "and still served");
  const warns = h.lines.filter((l) => l.component === "sync" && l.level === "warn");
  assert.equal(warns.length, 1, "one warning per failure streak");
  assert.equal(warns[0]!.code, "ERR_AGENT_SERVER_UNREACHABLE");
  assert.match(String(warns[0]!.reason), /ECONNREFUSED/);
  const retries = h.lines.filter((l) => l.msg === "sync still failing");
  // 45 min at a fixed 5 s would be 540 attempts; the backoff (capped at 60 s) makes far fewer.
  assert.ok(retries.length > 10 && retries.length < 80, `${retries.length} retries`);
  const delays = retries.map((l) => Number(l.retryInMs));
  assert.ok(Math.max(...delays) <= 72_000 && Math.max(...delays) >= 48_000, "delays grow to the cap, with jitter");
  assert.equal(h.loop.status().lastError?.code, "ERR_AGENT_SERVER_UNREACHABLE");

  server.down = false;
  await h.advance(75_000);
  assert.equal(h.loop.status().failures, 0);
  assert.ok(h.lines.some((l) => l.msg === "server reachable again: sync resumed" && Number(l.failures) > 10));
  const renewed = h.cache.svidOf("web")!;
  assert.notEqual(renewed, svid, "the overdue renewal happens right after recovery");
  assertValidAt(h, renewed.chainDer, server.clock.now());
});

test("an SVID that expires while the server is down stops being served, with a change event and a warning", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  const h = createAgentHarness(server);
  t.after(() => h.loop.stop());
  await started(h);
  const svid = h.cache.svidOf("web")!;
  server.down = true;
  await h.advance(svid.notAfter - server.clock.now() - 1_000, 10_000);
  assert.equal(h.cache.identitiesFor(UID).length, 1);
  const before = h.changes.length;
  await h.advance(2_000);
  assert.deepEqual(h.cache.identitiesFor(UID), []);
  assert.equal(h.cache.svidOf("web"), undefined);
  assert.ok(h.changes.slice(before).some((c) => c.entries.includes("web") && c.spiffeIds.includes(WEB)));
  assert.ok(h.lines.some((l) => l.level === "warn" && /expired before it could be renewed/.test(l.msg)));
  server.down = false;
  await h.advance(65_000);
  assert.equal(h.cache.identitiesFor(UID).length, 1, "re-issued after recovery");
});

test("the cache is not ready (and has no bundles) until the first successful sync", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  server.down = true;
  const h = createAgentHarness(server);
  t.after(() => h.loop.stop());
  h.loop.start();
  await h.settle();
  await h.advance(5_000);
  assert.equal(h.cache.ready, false);
  assert.throws(() => h.cache.bundles(), (e: unknown) => (e as { code?: string }).code === "ERR_WORKLOAD_API_NOT_READY");
  server.down = false;
  await h.advance(10_000);
  assert.equal(h.cache.ready, true);
  assert.equal(h.changes.filter((c) => c.ready).length, 1);
  // The SVID was signed before readiness was announced: no PermissionDenied window.
  const readyIndex = h.changes.findIndex((c) => c.ready);
  assert.ok(h.changes.slice(0, readyIndex).some((c) => c.spiffeIds.includes(WEB)));
  const leaf = new X509Certificate(h.cache.identitiesFor(UID)[0]!.x509Svid.certChainDer[0]!);
  assert.equal(leaf.subjectAltName, `URI:${WEB}`);
});
