// The configured trust_bundle is for first contact; afterwards the data dir's bundle wins, and a
// configured authority is added only when it is newer than every stored one (docs/config/agent.md).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createTestCa } from "../../../test/support/spiffe/index.js";
import { chooseServerTrust } from "./bootstrap-trust.js";

const H = 3600_000;
const now = Date.UTC(2026, 5, 1);
const old = createTestCa({ trustDomain: "example.org", now: now - 48 * H, notAfter: now + 24 * H });
const current = createTestCa({ trustDomain: "example.org", now: now - 2 * H });
const newer = createTestCa({ trustDomain: "example.org", now: now - H });
const expiredNewer = createTestCa({ trustDomain: "example.org", now: now - 30 * 60_000, notAfter: now - 60_000 });
const hex = (ds: readonly Uint8Array[] | undefined) => ds?.map((d) => Buffer.from(d).toString("hex"));

test("first contact uses the configured bundle; without one, nothing", () => {
  assert.deepEqual(chooseServerTrust({ configured: [old.der], stored: undefined, now }), { ders: [old.der], source: "configured", added: [], ignored: [] });
  assert.equal(chooseServerTrust({ configured: undefined, stored: undefined, now }).source, "none");
  assert.equal(chooseServerTrust({ configured: undefined, stored: [current.der], now }).source, "stored");
});

test("after a CA rotation the stale configured authority is not trusted: the data dir's bundle wins", () => {
  const c = chooseServerTrust({ configured: [old.der], stored: [current.der], now });
  assert.equal(c.source, "stored");
  assert.deepEqual(hex(c.ders), hex([current.der]));
  assert.equal(c.ignored.length, 1, "the rotated-out authority is reported as ignored");
  const same = chooseServerTrust({ configured: [current.der], stored: [current.der, old.der], now });
  assert.deepEqual(hex(same.ders), hex([current.der, old.der]));
  assert.deepEqual(same.ignored, []);
});

test("an operator-supplied newer authority is trusted in addition to the stored bundle; an expired one is not", () => {
  const c = chooseServerTrust({ configured: [old.der, newer.der], stored: [current.der], now });
  assert.equal(c.source, "stored+configured");
  assert.deepEqual(hex(c.ders), hex([current.der, newer.der]));
  assert.equal(c.added.length, 1);
  assert.equal(c.ignored.length, 1, "the older extra authority stays out");
  const e = chooseServerTrust({ configured: [expiredNewer.der], stored: [current.der], now });
  assert.equal(e.source, "stored");
  assert.deepEqual(hex(e.ders), hex([current.der]));
});
