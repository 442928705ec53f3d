import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSelector } from "../../spiffe/selector.js";
import { createEntryIndex } from "./entry-index.js";
import type { AgentEntry } from "./server-client.js";

const entry = (id: string, spiffeId: string, selectors: string[], revision = 1): AgentEntry => ({
  id,
  spiffeId,
  selectors: selectors.map(parseSelector),
  revision,
  hint: "",
  dnsNames: [],
  federatesWith: [],
  x509SvidTtl: 0,
  jwtSvidTtl: 0,
});
const sel = (...s: string[]) => s.map(parseSelector);

test("entry index: diffs by revision and answers knownRevisions", () => {
  const idx = createEntryIndex();
  const d1 = idx.apply([entry("a", "spiffe://td/a", ["unix:uid:1"]), entry("b", "spiffe://td/b", ["unix:uid:2"])], []);
  assert.deepEqual(d1.added.map((e) => e.id), ["a", "b"]);
  const d2 = idx.apply([entry("a", "spiffe://td/a", ["unix:uid:1"]), entry("b", "spiffe://td/b2", ["unix:uid:2"], 2)], ["zzz"]);
  assert.equal(d2.added.length, 0);
  assert.deepEqual(d2.updated.map((u) => [u.entry.id, u.previous.spiffeId, u.entry.spiffeId]), [["b", "spiffe://td/b", "spiffe://td/b2"]]);
  assert.deepEqual(d2.removed, []);
  const d3 = idx.apply([], ["a"]);
  assert.deepEqual(d3.removed.map((e) => e.id), ["a"]);
  assert.deepEqual([...idx.knownRevisions()], [["b", 2]]);
});

test("entry index: a workload matches entries whose selectors are all among its own, in a stable order", () => {
  const idx = createEntryIndex();
  idx.apply(
    [
      entry("3", "spiffe://td/web", ["unix:uid:1000", "unix:gid:50"]),
      entry("1", "spiffe://td/web", ["unix:uid:1000"]),
      entry("2", "spiffe://td/api", ["unix:uid:1000"]),
      entry("4", "spiffe://td/db", ["unix:uid:1000", "k8s:ns:db"]),
      entry("5", "spiffe://td/none", []),
    ],
    [],
  );
  assert.deepEqual(idx.matching(sel("unix:uid:1000")).map((e) => e.id), ["2", "1"]);
  assert.deepEqual(idx.matching(sel("unix:gid:50", "unix:uid:1000", "unix:uid:1000")).map((e) => e.id), ["2", "1", "3"]);
  assert.deepEqual(idx.matching(sel("unix:uid:9")), []);
  // Selector changes re-index: entry 4 now needs only k8s:ns:db.
  idx.apply([entry("4", "spiffe://td/db", ["k8s:ns:db"], 2)], []);
  assert.deepEqual(idx.matching(sel("k8s:ns:db")).map((e) => e.id), ["4"]);
  assert.deepEqual(idx.matching(sel("unix:uid:1000")).map((e) => e.id), ["2", "1"]);
  assert.deepEqual(idx.withSpiffeId("spiffe://td/web").map((e) => e.id), ["1", "3"]);
});
