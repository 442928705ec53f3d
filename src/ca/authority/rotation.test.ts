import { test } from "node:test";
import assert from "node:assert/strict";
import { createLocalJWKSet, jwtVerify } from "jose";
import { SpindleError } from "../../common/index.js";
import { activateTime, prepareTime } from "./index.js";
import { nextRotationEvent, planRotation, safeActivationTime } from "./rotation.js";
import { START, assertChainsToBundle, assertSpiffeValid, harness, newCa, workloadKey } from "../../../test/support/authority.js";

// CA TTL 600 s (so lifetime/2 = 305 s and lifetime/6 ~ 101.7 s, counting the 10 s backdate),
// SVID TTLs at the allowed maximum of CA TTL / 6.
const SHORT = { caTtlSeconds: 600, x509SvidTtlSeconds: 100, jwtSvidTtlSeconds: 100 } as const;
const DAY = 86_400_000;

test("rotation thresholds: min(lifetime/2, 30 d) to prepare, min(lifetime/6, 7 d) to activate", () => {
  const short = { notBefore: 0, notAfter: 600_000 };
  assert.equal(prepareTime(short), 300_000);
  assert.equal(activateTime(short), 500_000);
  const long = { notBefore: 0, notAfter: 365 * DAY };
  assert.equal(prepareTime(long), 335 * DAY, "capped at 30 days before expiry");
  assert.equal(activateTime(long), 358 * DAY, "capped at 7 days before expiry");
});

test("planRotation never prepares and activates in one pass while an active authority exists", () => {
  const active = { state: "active" as const, notBefore: 0, notAfter: 600_000, tainted: false };
  assert.deepEqual(planRotation([active], 599_000, () => true), [{ kind: "prepare" }]);
  const prepared = { state: "prepared" as const, notBefore: 590_000, notAfter: 1_190_000, tainted: false };
  assert.deepEqual(planRotation([active, prepared], 599_000, () => true), [{ kind: "activate", index: 1 }]);
  assert.deepEqual(planRotation([active, prepared], 600_000, () => true), [{ kind: "expire", index: 0 }, { kind: "activate", index: 1 }]);
  assert.deepEqual(planRotation([], 0, () => true), [{ kind: "create-active" }]);
  assert.deepEqual(planRotation([active], 1, () => false), [{ kind: "demote", index: 0, reason: "its key is missing" }, { kind: "create-active" }]);
});

test("X.509 and JWT authorities are prepared, activated and expired at the right fractions", async () => {
  const h = harness(SHORT);
  const ca = await newCa(h);
  let changes = 0;
  ca.onChange(() => changes++);
  const a = ca.show().x509[0]!;
  const ja = ca.show().jwt[0]!;
  const states = () => ca.show().x509.map((r) => `${r.id === a.id ? "A" : "B"}:${r.state}`).join(" ");

  h.clock.set(prepareTime(a) - 1000);
  await ca.tick();
  assert.equal(states(), "A:active", "nothing prepared before lifetime/2 remains");
  assert.equal(changes, 0);

  h.clock.set(prepareTime(a));
  await ca.tick();
  assert.equal(states(), "A:active B:prepared");
  assert.equal(changes, 1);
  const b = ca.show().x509.find((r) => r.state === "prepared")!;
  assert.equal(ca.bundleContents().x509Authorities.length, 2, "the prepared CA is published before it signs");
  assert.equal(ca.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() }).authorityId, a.id, "A still signs");
  assert.equal(ca.show().jwt.map((r) => r.state).join(), "active,prepared", "JWT keys follow the same schedule");
  assert.equal(ca.bundleContents().jwtAuthorities.length, 2);
  assert.equal((await ca.mintJwtSvid({ spiffeId: "spiffe://example.org/w", audience: ["x"] })).kid, ja.kid);

  h.clock.set(activateTime(a) - 1000);
  await ca.tick();
  assert.equal(states(), "A:active B:prepared");

  h.clock.set(activateTime(a));
  await ca.tick();
  assert.equal(states(), "A:old B:active");
  assert.equal(ca.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() }).authorityId, b.id);
  assert.notEqual((await ca.mintJwtSvid({ spiffeId: "spiffe://example.org/w", audience: ["x"] })).kid, ja.kid);
  assert.equal(ca.bundleContents().x509Authorities.length, 2, "the old CA stays published until it expires");

  h.clock.set(a.notAfter - 1);
  await ca.tick();
  const has = (id: string) => ca.show().x509.some((r) => r.id === id);
  assert.ok(has(a.id), "A is kept until its notAfter");
  // B was prepared at 295 s, so its own next authority (C) is already prepared by now.
  assert.equal(ca.show().x509.find((r) => r.id === b.id)?.state, "active");
  const published = ca.bundleContents().x509Authorities.length;
  h.clock.set(a.notAfter);
  await ca.tick();
  assert.ok(!has(a.id), "the old CA leaves the journal at its notAfter");
  assert.equal(ca.bundleContents().x509Authorities.length, published - 1, "and the bundle");
  assert.ok(!ca.show().jwt.some((r) => r.kid === ja.kid), "the old JWT key too");
  assert.equal(await h.keyManager.getKey(a.keyId), undefined, "its key is deleted");
  assert.deepEqual(await h.journalStore.load("server-a"), ca.show(), "every change was persisted");
});

test("an SVID minted at any moment over three CA lifetimes validates against the bundle of that moment", async () => {
  const h = harness(SHORT);
  const ca = await newCa(h);
  const key = workloadKey();
  const signers = new Set<string>();
  for (let t = 0; t <= 3 * 600_000; t += 7_000) {
    h.clock.set(START + t);
    await ca.tick();
    const now = h.clock.now();
    const bundle = ca.bundleContents();
    const svid = ca.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: key });
    assert.equal(svid.notAfter, now + 100_000, `full TTL at +${t / 1000} s: never capped under normal rotation`);
    assertChainsToBundle(svid.chain, bundle, now);
    signers.add(svid.authorityId);
    const jwt = await ca.mintJwtSvid({ spiffeId: "spiffe://example.org/w", audience: ["x"] });
    const jwks = createLocalJWKSet({ keys: bundle.jwtAuthorities.map((j) => ({ ...j.publicKeyJwk, kid: j.kid })) });
    await jwtVerify(jwt.token, jwks, { currentDate: new Date(now) });
    await assertSpiffeValid(bundle, now, { x509: svid.chain, jwt: { token: jwt.token, audience: "x" } });
  }
  assert.ok(signers.size >= 3, `several authorities signed over time (${signers.size})`);
});

test("an SVID stays verifiable against every later bundle until it expires", async () => {
  const h = harness(SHORT);
  const ca = await newCa(h);
  const issued: { chain: Buffer[]; notAfter: number }[] = [];
  for (let t = 0; t <= 2 * 600_000; t += 10_000) {
    h.clock.set(START + t);
    await ca.tick();
    issued.push(ca.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() }));
    const now = h.clock.now();
    for (const s of issued.filter((x) => x.notAfter >= now)) assertChainsToBundle(s.chain, ca.bundleContents(), now);
  }
});

test("a restart in the middle of a rotation resumes the same authorities from the journal and keys", async () => {
  const h = harness(SHORT);
  const ca = await newCa(h);
  const a = ca.show().x509[0]!;
  h.clock.set(prepareTime(a));
  await ca.tick();
  const before = ca.show();
  assert.equal(before.x509.length, 2);

  const restarted = await newCa(h);
  assert.deepEqual(restarted.show(), before, "same records, same states");
  assert.deepEqual(restarted.bundleContents(), ca.bundleContents());
  assert.equal(restarted.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() }).authorityId, a.id);

  h.clock.set(activateTime(a));
  await restarted.tick();
  const b = before.x509.find((r) => r.state === "prepared")!;
  const svid = restarted.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() });
  assert.equal(svid.authorityId, b.id, "the authority prepared before the restart is the one activated");
  assertChainsToBundle(svid.chain, restarted.bundleContents(), h.clock.now());
});

test("start() drives rotation from the injected clock; stop() cancels it", async () => {
  const h = harness(SHORT);
  const ca = await newCa(h);
  const a = ca.show().x509[0]!;
  ca.start();
  assert.equal(h.clock.pending(), 2, "the rotation check and the peer refresh");
  const changed = new Promise<void>((resolve) => ca.onChange(resolve));
  h.clock.set(prepareTime(a));
  await changed;
  assert.equal(ca.show().x509.filter((r) => r.state === "prepared").length, 1);
  await ca.tick(); // waits for the scheduled passes to finish (passes are serialised)
  assert.equal(h.clock.pending(), 2, "the next check and the next peer refresh are scheduled");
  ca.stop();
  assert.equal(h.clock.pending(), 0);
});

test("management: prepare, activate, taint (old only), revoke (tainted only)", async () => {
  const h = harness(SHORT);
  const ca = await newCa(h);
  const a = ca.show().x509[0]!;
  let changes = 0;
  ca.onChange(() => changes++);
  const isState = (re: RegExp) => (e: unknown) => SpindleError.is(e, "ERR_AUTHORITY_STATE") && re.test(e.message);

  await assert.rejects(ca.taint("x509", a.id), isState(/it is active; taint needs an old, untainted authority/));
  await assert.rejects(ca.revoke("x509", a.id), isState(/revoke needs a tainted authority/));
  await assert.rejects(ca.activate("x509", a.id), isState(/activate needs a prepared/));
  await assert.rejects(ca.taint("x509", "nope"), (e: unknown) => SpindleError.is(e, "ERR_NOT_FOUND"));

  const b = await ca.prepare("x509");
  assert.equal(b.state, "prepared");
  assert.equal(ca.bundleContents().x509Authorities.length, 2);
  const b2 = await ca.prepare("x509");
  assert.notEqual(b2.id, b.id, "a second prepare replaces the pending one");
  assert.equal(ca.show().x509.length, 2);
  assert.equal(await h.keyManager.getKey(b.keyId), undefined);

  await ca.activate("x509", b2.id);
  const minted = ca.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() });
  assert.equal(minted.authorityId, b2.id);

  const tainted = await ca.taint("x509", a.id);
  assert.equal(tainted.tainted, true);
  assert.equal(ca.authorityStatus(a.id), "tainted", "agents learn that SVIDs from A must be re-issued");
  assert.equal(ca.authorityStatus(b2.id), "active");
  await assert.rejects(ca.taint("x509", a.id), isState(/old, tainted/));
  assert.equal(ca.bundleContents().x509Authorities.length, 2, "a tainted authority stays published until revoked");

  await ca.revoke("x509", a.id);
  assert.equal(ca.bundleContents().x509Authorities.length, 1);
  assert.equal(ca.authorityStatus(a.id), "unknown");
  assert.equal(await h.keyManager.getKey(a.keyId), undefined);

  const ja = ca.show().jwt[0]!;
  const jb = await ca.prepare("jwt");
  await ca.activate("jwt", jb.kid);
  await ca.taint("jwt", ja.kid);
  assert.equal(ca.authorityStatus(ja.kid), "tainted");
  await ca.revoke("jwt", ja.kid);
  assert.deepEqual(ca.bundleContents().jwtAuthorities.map((j) => j.kid), [jb.kid]);

  assert.equal(changes, 9, "every management change notified listeners");
  assert.deepEqual(await h.journalStore.load("server-a"), ca.show(), "and was persisted");
});

test("HA: each replica's bundle includes the other replicas' authorities after a tick", async () => {
  const h = harness();
  const one = await newCa(h);
  const two = await newCa(h, { serverId: "server-b" });
  await one.tick();
  assert.equal(one.bundleContents().x509Authorities.length, 2);
  assert.equal(two.bundleContents().jwtAuthorities.length, 2);
  const svid = two.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() });
  assertChainsToBundle(svid.chain, one.bundleContents(), h.clock.now());
  await assert.rejects(one.taint("x509", svid.authorityId), (e: unknown) => SpindleError.is(e, "ERR_NOT_FOUND"));
});

test("HA: a peer's new authority reaches the bundle within the peer refresh interval, not at the next rotation check", { timeout: 10_000 }, async () => {
  const h = harness();
  const one = await newCa(h, { peerRefreshIntervalMs: 5_000, rotationCheckIntervalMs: 30_000 });
  const two = await newCa(h, { serverId: "server-b" });
  await one.tick();
  one.start();
  try {
    const prepared = await two.prepare("x509");
    const preparedJwt = await two.prepare("jwt");
    const has = () => one.bundleContents().x509Authorities.some((d) => d.equals(Buffer.from(prepared.certDer, "base64")));
    h.clock.advance(4_999);
    await new Promise((r) => setImmediate(r));
    assert.equal(has(), false, "not before the interval");
    const changed = new Promise<void>((resolve) => one.onChange(resolve));
    h.clock.advance(1);
    await changed;
    assert.equal(has(), true, "B's prepared X.509 authority is in A's bundle");
    assert.ok(one.bundleContents().jwtAuthorities.some((j) => j.kid === preparedJwt.kid), "and its JWT authority");
    assert.equal(one.authorityStatus(prepared.id), "prepared");
  } finally {
    one.stop();
  }
});

test("planRotation waits for the publication lead after the prepared authority was published", () => {
  const active = { state: "active" as const, notBefore: 0, notAfter: 600_000, tainted: false };
  const prepared = { state: "prepared" as const, notBefore: 290_000, notAfter: 890_000, tainted: false, preparedAt: 300_000 };
  assert.deepEqual(planRotation([active, prepared], 500_000, () => true, 245_000), [], "activation point reached, lead not yet");
  assert.deepEqual(planRotation([active, prepared], 544_999, () => true, 245_000), []);
  assert.deepEqual(planRotation([active, prepared], 545_000, () => true, 245_000), [{ kind: "activate", index: 1 }]);
  assert.equal(nextRotationEvent([active, prepared], 500_000, 245_000), 545_000);
  assert.equal(safeActivationTime(prepared, 245_000), 545_000);
  const legacy = { state: "prepared" as const, notBefore: 290_000, notAfter: 890_000, tainted: false };
  assert.equal(safeActivationTime(legacy, 245_000), 535_000, "records without preparedAt count from notBefore");
  assert.deepEqual(planRotation([active, prepared], 500_000, () => true), [{ kind: "activate", index: 1 }], "no lead: the activation point alone");
});

test("with bundleRefreshHintSeconds, rotation activates a prepared authority only 3 hints (+ peer refresh) after it was published", async () => {
  // CA 600 s: prepared 305 s before expiry, normally activated ~101.7 s before; hint 80 s ->
  // lead 3 x 80 s + 5 s = 245 s, so activation moves to 60 s before expiry.
  const h = harness({ ...SHORT, bundleRefreshHintSeconds: 80 });
  const ca = await newCa(h);
  assert.equal(ca.publishLeadMs, 245_000);
  const a = ca.show().x509[0]!;
  h.clock.set(prepareTime(a));
  await ca.tick();
  const b = ca.show().x509.find((r) => r.state === "prepared")!;
  assert.equal(b.preparedAt, prepareTime(a));
  h.clock.set(activateTime(a));
  await ca.tick();
  assert.equal(ca.show().x509.find((r) => r.id === b.id)!.state, "prepared", "the activation point alone is not enough");
  h.clock.set(prepareTime(a) + 245_000 - 1);
  await ca.tick();
  assert.equal(ca.show().x509.find((r) => r.id === b.id)!.state, "prepared");
  assert.equal(ca.show().jwt.find((r) => r.state === "prepared")!.state, "prepared", "JWT keys wait too");
  h.clock.set(prepareTime(a) + 245_000);
  await ca.tick();
  assert.equal(ca.show().x509.find((r) => r.id === b.id)!.state, "active");
  assert.equal(ca.show().jwt.filter((r) => r.state === "active").length, 1);
  assert.equal(ca.show().jwt.filter((r) => r.state === "prepared").length, 0, "the JWT key was activated with it");
});
