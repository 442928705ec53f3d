import { test } from "node:test";
import assert from "node:assert/strict";
import { createBackoff, jittered } from "./backoff.js";
import { createFakeClock } from "../../test/support/fake-clock.js";
import { concatDer, derToPem, parsePem, pemToDers, splitConcatenatedDer } from "./pem.js";
import { SpindleError } from "./errors.js";

test("backoff grows exponentially, stays within jitter bounds and the cap, and resets", () => {
  const lo = createBackoff({ initialMs: 100, maxMs: 1000, jitter: 0.2, random: () => 0 });
  assert.deepEqual([lo.next(), lo.next(), lo.next(), lo.next(), lo.next()], [80, 160, 320, 640, 800]);
  const hi = createBackoff({ initialMs: 100, maxMs: 1000, jitter: 0.2, random: () => 0.999999 });
  assert.deepEqual([hi.next(), hi.next()], [120, 240]);
  lo.reset();
  assert.equal(lo.attempts, 0);
  assert.equal(lo.next(), 80);
  assert.throws(() => createBackoff({ initialMs: 0 }), TypeError);
  for (let i = 0; i < 100; i++) {
    const v = jittered(1000, 0.1);
    assert.ok(v >= 900 && v <= 1100);
  }
});

test("fake clock fires timers in order and only when due", () => {
  const clock = createFakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 100);
  const cancel = clock.setTimeout(() => fired.push("never"), 150);
  cancel();
  clock.advance(99);
  assert.deepEqual(fired, []);
  clock.advance(150);
  assert.deepEqual(fired, ["a@100", "b@200"]);
  assert.equal(clock.now(), 249);
  assert.equal(clock.pending(), 0);
  assert.throws(() => clock.set(0), TypeError);
});

test("PEM round trip, label checks and concatenated DER splitting", () => {
  const a = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]);
  const big = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), Buffer.alloc(256, 7)]);
  const pem = derToPem(a, "CERTIFICATE") + derToPem(big, "CERTIFICATE");
  assert.deepEqual(pemToDers(pem, "CERTIFICATE"), [a, big]);
  assert.deepEqual(splitConcatenatedDer(concatDer([a, big])), [a, big]);
  assert.throws(() => pemToDers(pem, "PRIVATE KEY"), (e) => SpindleError.is(e, "ERR_PEM_INVALID"));
  assert.throws(() => parsePem("-----BEGIN A-----\nAAAA\n-----END B-----"), (e) => SpindleError.is(e, "ERR_PEM_INVALID"));
  assert.throws(() => parsePem("-----BEGIN A-----\n!!!!\n-----END A-----"), (e) => SpindleError.is(e, "ERR_PEM_INVALID"));
  assert.throws(() => splitConcatenatedDer(Buffer.from([0x30, 0x05, 0x01])), (e) => SpindleError.is(e, "ERR_PEM_INVALID"));
});
