import assert from "node:assert/strict";
import { test } from "node:test";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import { createAuthorizedCache, SIGN_SNAPSHOT_MAX_AGE_MS, SYNC_SNAPSHOT_MAX_AGE_MS } from "./authorized-cache.js";
import { authorizedEntries } from "./authorized.js";
import { createMemoryEntrySource } from "./memory-stores.js";
import type { EntrySource } from "./stores.js";

const TD = "example.org";
const me = { spiffeId: `spiffe://${TD}/spindle/agent/join_token/aa`, selectors: [] };

function setup() {
  const clock = createFakeClock(1_000_000);
  const src = createMemoryEntrySource(clock);
  let queries = 0;
  const counting: EntrySource = { ...src, listEntries: (f, p) => (queries++, src.listEntries(f, p)) };
  const cache = createAuthorizedCache({ entries: counting, trustDomain: TD, clock });
  const add = (n: string) => src.put({ spiffeId: `spiffe://${TD}/${n}`, parentId: me.spiffeId, selectors: [{ type: "unix", value: `uid:${n.length}` }] });
  return { clock, src, cache, add, queries: () => queries };
}

test("the parent graph is walked one query per level, not one per entry", async () => {
  const { src, add } = setup();
  for (let i = 0; i < 1200; i++) add(`w${i}`);
  let n = 0;
  const got = await authorizedEntries({ ...src, listEntries: (f, p) => (n++, src.listEntries(f, p)) }, TD, me, 1_000_000);
  assert.equal(got.length, 1200);
  // node aliases (1) + the agent's children (2 pages of 1,000) + their children (3 chunks of <= 500 parents)
  assert.ok(n <= 6, `expected at most 6 queries for 1,200 entries, made ${n}`);
});

test("a sync's later pages use the first page's snapshot; the next sync walks again", async () => {
  const { clock, cache, add, queries } = setup();
  add("a");
  assert.deepEqual((await cache.refresh(me)).map((e) => e.spiffeId), [`spiffe://${TD}/a`]);
  const walked = queries();
  add("b");
  clock.advance(1000);
  assert.equal((await cache.get(me, SYNC_SNAPSHOT_MAX_AGE_MS)).length, 1, "later pages see the snapshot of the first");
  assert.equal(queries(), walked, "no datastore query for a later page");
  assert.equal((await cache.refresh(me)).length, 2, "a new sync sees the new entry");
  clock.advance(SYNC_SNAPSHOT_MAX_AGE_MS + 1);
  add("cc");
  assert.equal((await cache.get(me, SYNC_SNAPSHOT_MAX_AGE_MS)).length, 3, "a snapshot older than the limit is walked again");
});

test("CSR batches reuse a snapshot only while it is fresh; agents with other selectors do not share one", async () => {
  const { clock, cache, add } = setup();
  add("a");
  await cache.refresh(me);
  add("b");
  clock.advance(SIGN_SNAPSHOT_MAX_AGE_MS);
  assert.equal((await cache.get(me, SIGN_SNAPSHOT_MAX_AGE_MS)).length, 1);
  clock.advance(1);
  assert.equal((await cache.get(me, SIGN_SNAPSHOT_MAX_AGE_MS)).length, 2, "older than the signing limit: walked again");
  const other = { spiffeId: me.spiffeId, selectors: [{ type: "x509pop", value: "subject:cn:n1" }] };
  add("c");
  assert.equal((await cache.get(other, SIGN_SNAPSHOT_MAX_AGE_MS)).length, 3, "a different selector set is a different snapshot");
});

test("a failed walk is not remembered", async () => {
  const clock = createFakeClock(1_000_000);
  const src = createMemoryEntrySource(clock);
  let fail = true;
  const flaky: EntrySource = { ...src, listEntries: (f, p) => (fail ? Promise.reject(new Error("datastore down")) : src.listEntries(f, p)) };
  const cache = createAuthorizedCache({ entries: flaky, trustDomain: TD, clock });
  await assert.rejects(cache.refresh(me), /datastore down/);
  fail = false;
  src.put({ spiffeId: `spiffe://${TD}/a`, parentId: me.spiffeId, selectors: [{ type: "unix", value: "uid:1" }] });
  assert.equal((await cache.get(me, SYNC_SNAPSHOT_MAX_AGE_MS)).length, 1);
});
