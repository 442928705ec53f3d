// The registration/datastore behaviour suite, run against SQLite and PostgreSQL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createFakeClock } from "../../support/fake-clock.js";
import { SpindleError, type ErrorCode } from "../../../src/common/errors.js";
import { createDatastore, hashToken, type Datastore, type DatastoreLocation } from "../../../src/ca/datastore/index.js";
import { createRegistration, serverSpiffeId, type EntryInput, type Registration } from "../../../src/ca/registration/index.js";

const TD = "example.org";
const PARENT = "spiffe://example.org/spindle/agent/node1";
const base = (over: Partial<EntryInput> = {}): EntryInput => ({
  spiffeId: "spiffe://example.org/web",
  parentId: PARENT,
  selectors: [{ type: "unix", value: "uid:1000" }],
  ...over,
});

async function rejects(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<SpindleError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SpindleError, `expected a SpindleError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${code}`);
}

export function registrationSuite(name: string, location: () => Promise<DatastoreLocation>): void {
  const open = async (): Promise<{ ds: Datastore; reg: Registration; clock: ReturnType<typeof createFakeClock> }> => {
    const clock = createFakeClock();
    const ds = await createDatastore({ location: await location(), clock });
    const reg = createRegistration({ datastore: ds, clock, limits: { trustDomain: TD, maxX509SvidTtl: 14400, maxJwtSvidTtl: 14400 } });
    return { ds, reg, clock };
  };

  test(`${name}: create, show, list with filters, count, update, delete`, async () => {
    const { ds, reg, clock } = await open();
    try {
      await ds.setFederatedBundle("other.org", '{"keys":[]}');
      const a = await reg.createEntry(base({ selectors: [{ type: "unix", value: "uid:1000" }, { type: "k8s", value: "ns:web" }], federatesWith: ["other.org"], dnsNames: ["web.local"] }));
      assert.equal(a.revision, 1);
      assert.deepEqual(a.selectors.map((s) => s.type), ["k8s", "unix"], "selectors stored sorted");
      const b = await reg.createEntry(base({ spiffeId: "spiffe://example.org/db" }));
      const node = await reg.createEntry({ spiffeId: PARENT, parentId: serverSpiffeId(TD), selectors: [{ type: "x509pop", value: "subject:cn:node1" }] });
      assert.deepEqual(await reg.getEntry(a.id), a);
      assert.equal(await reg.countEntries({}), 3);
      assert.deepEqual((await reg.listEntries({ parentId: PARENT })).entries.map((e) => e.id).sort(), [a.id, b.id].sort());
      assert.deepEqual((await reg.listEntries({ parentId: serverSpiffeId(TD) })).entries.map((e) => e.id), [node.id]);
      // The agent API walks the parent graph a level at a time: any of several parents, in one query.
      assert.deepEqual((await ds.listEntries({ parentIds: [PARENT, serverSpiffeId(TD), "spiffe://example.org/none"] })).entries.map((e) => e.id).sort(), [a.id, b.id, node.id].sort());
      assert.deepEqual((await ds.listEntries({ parentIds: [] })).entries, []);
      assert.deepEqual((await reg.listEntries({ selectors: [{ type: "k8s", value: "ns:web" }] })).entries.map((e) => e.id), [a.id]);
      assert.equal(await reg.countEntries({ selectors: [{ type: "unix", value: "uid:1000" }] }), 2);
      assert.deepEqual((await reg.listEntries({ federatesWith: ["other.org"] })).entries.map((e) => e.id), [a.id]);
      assert.deepEqual((await reg.listEntries({ spiffeId: "spiffe://example.org/db" })).entries.map((e) => e.id), [b.id]);
      const p1 = await reg.listEntries({}, { pageSize: 2 });
      assert.equal(p1.entries.length, 2);
      const p2 = await reg.listEntries({}, { pageSize: 2, pageToken: p1.nextPageToken });
      assert.equal(p2.entries.length, 1);
      assert.equal(p2.nextPageToken, "");

      clock.advance(1000);
      const adminOnly = await reg.updateEntry(b.id, { admin: true, expiresAt: clock.now() + 60_000 }, ["admin", "expiresAt"]);
      assert.equal(adminOnly.revision, 1, "admin/expiresAt changes do not bump the revision");
      assert.equal(adminOnly.admin, true);
      const same = await reg.updateEntry(b.id, { hint: "" }, ["hint"]);
      assert.equal(same.revision, 1, "a no-op update does not bump the revision");
      const ttl = await reg.updateEntry(b.id, { x509SvidTtl: 600 }, ["x509SvidTtl"]);
      assert.equal(ttl.revision, 2, "a TTL change bumps the revision");
      assert.deepEqual(await reg.getEntry(b.id), ttl);

      await rejects(ds.deleteFederatedBundle("other.org"), "ERR_BUNDLE_IN_USE", new RegExp(a.id));
      const deleted = await reg.deleteEntry(a.id);
      assert.equal(deleted.id, a.id);
      await rejects(reg.getEntry(a.id), "ERR_NOT_FOUND", /not found/);
      await rejects(reg.deleteEntry(a.id), "ERR_NOT_FOUND", /not found/);
      await ds.deleteFederatedBundle("other.org");
      assert.equal((await ds.listFederatedBundles()).length, 0);
    } finally {
      await ds.close();
    }
  });

  test(`${name}: invalid entries are rejected with every problem and nothing is written`, async () => {
    const { ds, reg } = await open();
    try {
      const cases: [Partial<EntryInput>, RegExp][] = [
        [{ spiffeId: "spiffe://example.org/a//b" }, /spiffeId: .*empty segment/],
        [{ spiffeId: "http://example.org/x" }, /spiffeId: .*must start with exactly 'spiffe:\/\/'/],
        [{ selectors: [] }, /selectors: at least one selector is required/],
        [{ x509SvidTtl: 14401 }, /x509SvidTtl: TTL 14401s is above the maximum of 14400s/],
        [{ jwtSvidTtl: 99999 }, /jwtSvidTtl: TTL 99999s is above the maximum/],
        [{ parentId: "spiffe://evil.org/agent" }, /parentId: .*outside the trust domain "example.org"/],
        [{ spiffeId: "spiffe://evil.org/web" }, /spiffeId: .*outside the trust domain/],
        [{ federatesWith: ["unknown.org"] }, /federatesWith\[0\]: no bundle is known for trust domain "unknown.org"/],
        [{ federatesWith: ["Bad_TD!"] }, /federatesWith\[0\]: invalid trust domain "Bad_TD!"/],
        [{ dnsNames: ["-bad-.example"] }, /dnsNames\[0\]: "-bad-.example" is not a valid DNS name/],
        [{ selectors: [{ type: "", value: "x" }] }, /selectors\[0\]\.type/],
      ];
      for (const [over, pattern] of cases) await rejects(reg.createEntry(base(over)), "ERR_ENTRY_INVALID", pattern);
      const multi = await rejects(
        reg.createEntry({ spiffeId: "", parentId: "spiffe://evil.org/x", selectors: [], x509SvidTtl: 10 ** 9 }),
        "ERR_ENTRY_INVALID",
        /spiffeId: invalid SPIFFE ID "": empty string; parentId: .*; selectors: .*; x509SvidTtl: /,
      );
      assert.equal((multi.details.problems as unknown[]).length, 4, "every problem is listed");
      assert.equal(await reg.countEntries({}), 0, "nothing was written");

      const ok = await reg.createEntry(base());
      await rejects(reg.createEntry(base({ selectors: [{ type: "unix", value: "uid:1000" }] })), "ERR_ALREADY_EXISTS", new RegExp(ok.id));
      await rejects(reg.updateEntry(ok.id, { selectors: [] }, ["selectors"]), "ERR_ENTRY_INVALID", /at least one selector/);
      await rejects(reg.updateEntry("no-such-id", { hint: "x" }, ["hint"]), "ERR_NOT_FOUND", /no-such-id/);
      assert.deepEqual(await reg.getEntry(ok.id), ok, "a rejected update leaves the entry untouched");
      assert.equal(await reg.countEntries({}), 1);

      const results = await reg.batchCreate([base({ spiffeId: "spiffe://example.org/b1" }), base({ selectors: [] }), base()]);
      assert.deepEqual(results.map((r) => (r.ok ? "ok" : r.error.code)), ["ok", "ERR_ENTRY_INVALID", "ERR_ALREADY_EXISTS"]);
      assert.equal(await reg.countEntries({}), 2);
    } finally {
      await ds.close();
    }
  });

  test(`${name}: join tokens are single use, expire, and only their hash is stored`, async () => {
    const { ds, reg, clock } = await open();
    try {
      const t = await reg.generateJoinToken();
      assert.equal(t.expiresAt, clock.now() + 600_000, "default TTL is 600 s");
      await ds.consumeJoinToken(t.token);
      await rejects(ds.consumeJoinToken(t.token), "ERR_JOIN_TOKEN_INVALID", /already used/);
      await rejects(ds.consumeJoinToken("never-issued"), "ERR_JOIN_TOKEN_INVALID", /unknown/);
      const short = await reg.generateJoinToken(5);
      clock.advance(5000);
      await rejects(ds.consumeJoinToken(short.token), "ERR_JOIN_TOKEN_INVALID", /expired/);
      await rejects(reg.generateJoinToken(0), "ERR_INVALID_ARGUMENT", /TTL/);
      assert.equal(await ds.pruneJoinTokens(), 1, "only the expired token is pruned");
      // Long after its expiry a used token is still known as used, never "unknown".
      clock.advance(3_600_000);
      assert.equal(await ds.pruneJoinTokens(), 0, "used tokens are kept");
      await rejects(ds.consumeJoinToken(t.token), "ERR_JOIN_TOKEN_INVALID", /already used/);
    } finally {
      await ds.close();
    }
  });

  test(`${name}: a join token with a node alias stores it, and the alias entry is created once`, async () => {
    const { ds, reg } = await open();
    try {
      const alias = "spiffe://example.org/node/web-1";
      const t1 = await reg.generateJoinToken(600, alias);
      assert.equal(t1.alias?.created, true);
      assert.deepEqual(
        [t1.alias!.entry.spiffeId, t1.alias!.entry.parentId, t1.alias!.entry.selectors],
        [alias, serverSpiffeId(TD), [{ type: "join_token", value: `spiffe_id:${alias}` }]],
      );
      const t2 = await reg.generateJoinToken(600, alias);
      assert.deepEqual([t2.alias?.created, t2.alias?.entry.id], [false, t1.alias!.entry.id], "a second token reuses the alias entry");
      assert.equal(await reg.countEntries({}), 1);
      assert.deepEqual(await ds.consumeJoinToken(t1.token), { spiffeId: alias });
      assert.deepEqual(await ds.consumeJoinToken((await reg.generateJoinToken()).token), {}, "no alias: nothing carried");
      await rejects(reg.generateJoinToken(600, "spiffe://other.org/n"), "ERR_ENTRY_INVALID", /outside the trust domain/);
      await rejects(reg.generateJoinToken(600, serverSpiffeId(TD)), "ERR_ENTRY_INVALID", /reserved/);
      await rejects(reg.generateJoinToken(600, "not-an-id"), "ERR_ENTRY_INVALID", /spiffeId/);
    } finally {
      await ds.close();
    }
  });

  test(`${name}: join token states by token id; parent IDs nobody has are warned about`, async () => {
    const { ds, reg, clock } = await open();
    try {
      const t = await reg.generateJoinToken(60);
      const agentOf = (token: string) => `spiffe://${TD}/spindle/agent/join_token/${hashToken(token).slice(0, 32)}`;
      const idOf = (token: string) => hashToken(token).slice(0, 32);
      assert.equal(await ds.joinTokenState(idOf(t.token)), "unused");
      assert.equal(await reg.parentWarning(agentOf(t.token)), undefined, "a generated token's agent is a known parent");
      await ds.consumeJoinToken(t.token);
      assert.equal(await ds.joinTokenState(idOf(t.token)), "used");
      const short = await reg.generateJoinToken(1);
      clock.advance(1000);
      assert.equal(await ds.joinTokenState(idOf(short.token)), "expired");
      assert.equal(await ds.joinTokenState("0".repeat(32)), undefined);
      assert.equal(await ds.joinTokenState("%"), undefined, "not a token id: no LIKE pattern reaches the database");

      assert.equal(await reg.parentWarning(serverSpiffeId(TD)), undefined);
      const nobody = "spiffe://example.org/spindle/agent/x509pop/nobody";
      assert.match((await reg.parentWarning(nobody))!, /^parent ID spiffe:\/\/example.org\/spindle\/agent\/x509pop\/nobody is not an attested agent/);
      await ds.recordAttestation({ spiffeId: nobody, attestor: "x509pop", selectors: [], serial: "01", expiresAt: clock.now() + 1000, canReattest: true }, clock.now());
      assert.equal(await reg.parentWarning(nobody), undefined, "an attested agent");
      const alias = "spiffe://example.org/node/web";
      assert.ok(await reg.parentWarning(alias));
      await reg.generateJoinToken(60, alias);
      assert.equal(await reg.parentWarning(alias), undefined, "a node alias (an entry's SPIFFE ID)");
    } finally {
      await ds.close();
    }
  });

  test(`${name}: selectors unknown to the attestors need allowUnknownSelectors; other updates keep them`, async () => {
    const { ds, reg } = await open();
    try {
      const odd = [{ type: "tpm", value: "pub_hash:ab" }];
      await rejects(reg.createEntry(base({ selectors: odd })), "ERR_ENTRY_INVALID", /selectors\[0\]: selector "tpm:pub_hash:ab": unknown selector type "tpm"/);
      await rejects(reg.createEntry(base({ selectors: [{ type: "unix", value: "uid:abc" }] }), { allowUnknownSelectors: true }), "ERR_ENTRY_INVALID", /unix:uid must be a non-negative integer/);
      const e = await reg.createEntry(base({ selectors: odd }), { allowUnknownSelectors: true });
      assert.equal((await reg.updateEntry(e.id, { hint: "h" }, ["hint"])).hint, "h", "a hint change does not re-check stored selectors");
      await rejects(reg.updateEntry(e.id, { selectors: [...odd, { type: "unix", value: "uid:1" }] }, ["selectors"]), "ERR_ENTRY_INVALID", /unknown selector type "tpm"/);
      const both = await reg.updateEntry(e.id, { selectors: [...odd, { type: "unix", value: "uid:1" }] }, ["selectors"], { allowUnknownSelectors: true });
      assert.equal(both.selectors.length, 2);
      const batch = await reg.batchCreate([base({ spiffeId: "spiffe://example.org/b", selectors: odd })]);
      assert.equal(batch[0]!.ok, false);
    } finally {
      await ds.close();
    }
  });

  test(`${name}: selector filters match as superset, exact, subset or any`, async () => {
    const { ds, reg } = await open();
    try {
      const u = (n: number) => ({ type: "unix", value: `uid:${n}` });
      const k = { type: "k8s", value: "ns:web" };
      for (const [name, selectors] of [["a", [u(1)]], ["ab", [u(1), k]], ["b", [k]], ["c", [u(2)]]] as const) {
        await reg.createEntry(base({ spiffeId: `spiffe://example.org/${name}`, selectors }));
      }
      const ids = async (selectors: { type: string; value: string }[], selectorMatch?: "superset" | "exact" | "subset" | "any") =>
        (await reg.listEntries({ selectors, ...(selectorMatch === undefined ? {} : { selectorMatch }) })).entries.map((e) => e.spiffeId.slice("spiffe://example.org/".length)).sort();
      assert.deepEqual(await ids([u(1)]), ["a", "ab"], "default: superset");
      assert.deepEqual(await ids([u(1)], "superset"), ["a", "ab"]);
      assert.deepEqual(await ids([u(1)], "exact"), ["a"]);
      assert.deepEqual(await ids([u(1), k], "exact"), ["ab"]);
      assert.deepEqual(await ids([u(1), k], "subset"), ["a", "ab", "b"], "what a workload with uid 1 in ns web matches");
      assert.deepEqual(await ids([u(1), u(2)], "any"), ["a", "ab", "c"]);
      assert.deepEqual(await ids([u(1), u(2)], "superset"), []);
      assert.equal(await reg.countEntries({ selectors: [u(1), k], selectorMatch: "subset" }), 3);
    } finally {
      await ds.close();
    }
  });

  test(`${name}: authority journals and counters persist across reopen`, async () => {
    const loc = await location();
    const clock = createFakeClock();
    const ds1 = await createDatastore({ location: loc, clock });
    const journal = { x509: [], jwt: [{ kid: "k1", state: "active" as const, keyId: "jwt-1", publicKeyJwk: { kty: "EC" }, notBefore: 1, notAfter: 2, tainted: false, serverId: "s1" }] };
    await ds1.journal.save("s1", journal);
    await ds1.journal.save("s2", { x509: [], jwt: [] });
    assert.equal(await ds1.incrementCounter("seq"), 1);
    assert.equal(await ds1.incrementCounter("seq"), 2);
    await ds1.close();
    const ds2 = await createDatastore({ location: loc, clock });
    try {
      assert.deepEqual(await ds2.journal.load("s1"), journal);
      assert.equal(await ds2.journal.load("nope"), undefined);
      assert.equal((await ds2.journal.loadAll()).length, 2);
      assert.equal(await ds2.readCounter("seq"), 2);
    } finally {
      await ds2.close();
    }
  });
}
