// The admin CLI commands, run in-process (src/cli/program.ts) against an in-process server.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../src/cli/program.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => srv.close());

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli([...args, "--admin-socket", srv.options.adminSocket], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
  return { code, out, err };
}
const json = async (...args: string[]) => {
  const r = await cli(...args, "--output", "json");
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as Record<string, unknown>;
};

test("entry create, update (revision rules), show, count, delete", async () => {
  const e = await json("entry", "create", "--spiffe-id", "spiffe://example.org/cli", "--parent-id", "spiffe://example.org/agent", "--selector", "unix:uid:5", "--jwt-ttl", "2m", "--hint", "h1");
  assert.equal(e["jwtSvidTtl"], 120);
  const id = e["id"] as string;
  const u1 = await json("entry", "update", "--id", id, "--admin", "--expires-at", "2030-01-01T00:00:00Z");
  assert.equal(u1["revision"], "1", "admin/expires-at do not bump the revision");
  assert.equal(u1["expiresAt"], "2030-01-01T00:00:00.000Z");
  const u2 = await json("entry", "update", "--id", id, "--no-admin", "--dns", "cli.local", "--selector", "unix:uid:6");
  assert.deepEqual([u2["revision"], u2["admin"], u2["dnsNames"]], ["2", undefined, ["cli.local"]]);
  assert.equal(u2["hint"], "h1", "fields without flags are kept");
  const none = await cli("entry", "update", "--id", id);
  assert.equal(none.code, 1);
  assert.match(none.err, /^error \[ERR_INVALID_ARGUMENT\]: nothing to update/);
  const badTtl = await cli("entry", "update", "--id", id, "--x509-ttl", "soon");
  assert.match(badTtl.err, /^error \[ERR_INVALID_ARGUMENT\]: --x509-ttl: "soon" is not a duration/);
  const text = await cli("entry", "show", "--id", id);
  assert.match(text.out, /Selector +: unix:uid:6/);
  assert.deepEqual(await json("entry", "count", "--selector", "unix:uid:6"), { count: 1 });
  assert.deepEqual(await json("entry", "count", "--selector", "unix:uid:5"), { count: 0 });
  const subset = await json("entry", "show", "--selector", "unix:uid:6", "--selector", "k8s:ns:other", "--match-selectors-on", "subset");
  assert.deepEqual((subset["entries"] as { id: string }[]).map((x) => x.id), [id], "subset: the entry's selectors are among the given ones");
  const exact = await json("entry", "show", "--selector", "unix:uid:6", "--selector", "k8s:ns:other", "--match-selectors-on", "exact");
  assert.deepEqual(exact["entries"], []);
  const badMatch = await cli("entry", "show", "--match-selectors-on", "most");
  assert.match(badMatch.err, /^error \[ERR_INVALID_ARGUMENT\]: option '--match-selectors-on <how>' argument 'most' is invalid/);
  const del = await cli("entry", "delete", "--id", id, "--id", "missing");
  assert.equal(del.code, 1, "a missing id fails the command");
  assert.match(del.out, /#1: ok: .*\n#2: error \[ERR_NOT_FOUND\]/);
  assert.deepEqual(await json("entry", "count"), { count: 0 });
});

test("entry create --data creates a batch and reports each failure", async () => {
  const file = join(srv.dir, "entries.json");
  writeFileSync(
    file,
    JSON.stringify([
      { spiffeId: "spiffe://example.org/b1", parentId: "spiffe://example.org/agent", selectors: [{ type: "k8s", value: "ns:a" }] },
      { spiffe_id: "spiffe://example.org/b2", parent_id: "spiffe://example.org/agent", selectors: [] },
    ]),
  );
  const r = await cli("entry", "create", "--data", file);
  assert.equal(r.code, 1);
  assert.match(r.out, /#1: ok: .* spiffe:\/\/example\.org\/b1\n#2: error \[ERR_ENTRY_INVALID\]: .*at least one selector/);
  writeFileSync(file, '[{"nope": 1}]');
  const bad = await cli("entry", "create", "--data", file);
  assert.match(bad.err, /^error \[ERR_INVALID_ARGUMENT\]: --data: entry #1: /);
});

test("bundle set, list, delete; show in both formats; token; authority; healthcheck", async () => {
  const file = join(srv.dir, "partner.json");
  writeFileSync(file, JSON.stringify({ keys: [], spiffe_sequence: 1 }));
  assert.equal((await cli("bundle", "set", "--id", "partner.org", "--path", file)).code, 0);
  const list = await json("bundle", "list");
  assert.deepEqual((list["bundles"] as { trustDomain: string }[]).map((b) => b.trustDomain), ["partner.org"]);
  assert.equal((await cli("bundle", "delete", "--id", "partner.org")).code, 0);
  const gone = await cli("bundle", "delete", "--id", "partner.org");
  assert.match(gone.err, /^error \[ERR_NOT_FOUND\]: /);
  assert.match((await cli("bundle", "show")).out, /^-----BEGIN CERTIFICATE-----/);
  const spiffe = JSON.parse((await cli("bundle", "show", "--format", "spiffe")).out) as { keys: { use: string }[]; spiffe_sequence: number; spiffe_refresh_hint: number };
  assert.deepEqual(spiffe.keys.map((k) => k.use).sort(), ["jwt-svid", "x509-svid"]);
  assert.equal(spiffe.spiffe_refresh_hint, 300);
  const tok = await json("token", "generate", "--ttl", "5m");
  assert.ok(Date.parse(tok["expiresAt"] as string) - Date.now() <= 300_000);
  const auth = await json("authority", "show");
  assert.equal((auth["authorities"] as unknown[]).length, 2);
  const jwtPrep = await json("authority", "prepare", "--kind", "jwt");
  assert.equal(jwtPrep["state"], "prepared");
  const noKind = await cli("authority", "prepare");
  assert.notEqual(noKind.code, 0);
  assert.match(noKind.err, /--kind/);
  const hc = await cli("healthcheck");
  assert.equal(hc.code, 0);
  const jwt = await cli("jwt", "mint", "--spiffe-id", "spiffe://example.org/t", "--audience", "a", "--ttl", "1m");
  assert.match(jwt.out, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
});

test("entry create: selectors are validated, with the accepted keys named; --allow-unknown-selectors; unknown parents warned", async () => {
  const create = (...extra: string[]) => cli("entry", "create", "--spiffe-id", "spiffe://example.org/sel", "--parent-id", "spiffe://example.org/spindle/server", ...extra);
  const uuid = await cli("entry", "create", "--spiffe-id", "spiffe://example.org/sel", "--parent-id", "spiffe://example.org/agent", "--selector", "unix:uuid:1000");
  assert.equal(uuid.code, 1);
  assert.equal(
    uuid.err,
    'error [ERR_ENTRY_INVALID]: invalid registration entry: selectors[0]: selector "unix:uuid:1000": unknown unix key "uuid"; accepted keys: uid, user, gid, group, supplementary_gid, supplementary_group, path, sha256 (to store it anyway, for an attestor Spindle does not know: --allow-unknown-selectors)\n',
  );
  const abc = await cli("entry", "create", "--spiffe-id", "spiffe://example.org/sel", "--parent-id", "spiffe://example.org/agent", "--selector", "unix:uid:abc");
  assert.equal(
    abc.err,
    'error [ERR_ENTRY_INVALID]: invalid registration entry: selectors[0]: selector "unix:uid:abc": the value of unix:uid must be a non-negative integer (0-4294967295) without sign or leading zeros, got "abc"\n',
  );
  const foo = await create("--selector", "foo:bar");
  assert.equal(
    foo.err,
    'error [ERR_ENTRY_INVALID]: invalid registration entry: selectors[0]: selector "foo:bar": unknown selector type "foo"; known types: unix, k8s, docker (workload), join_token, x509pop, k8s_psat (node) (to store it anyway, for an attestor Spindle does not know: --allow-unknown-selectors)\n',
  );
  assert.deepEqual(await json("entry", "count", "--spiffe-id", "spiffe://example.org/sel"), { count: 0 }, "nothing stored");

  const allowed = await create("--selector", "foo:bar", "--allow-unknown-selectors", "--output", "json");
  assert.equal(allowed.code, 0, allowed.err);
  assert.equal(allowed.err, "", "the server's own ID is a known parent: no warning");
  const id = (JSON.parse(allowed.out) as { id: string }).id;
  const hint = await cli("entry", "update", "--id", id, "--hint", "x");
  assert.equal(hint.code, 0, "other fields change without re-checking the stored selector");
  const upd = await cli("entry", "update", "--id", id, "--selector", "foo:baz");
  assert.match(upd.err, /^error \[ERR_ENTRY_INVALID\]: .*unknown selector type "foo"/);
  const updOk = await cli("entry", "update", "--id", id, "--selector", "foo:baz", "--allow-unknown-selectors", "--output", "json");
  assert.equal(updOk.code, 0, updOk.err);
  assert.deepEqual((JSON.parse(updOk.out) as { selectors: unknown[] }).selectors, [{ type: "foo", value: "baz" }]);

  const orphan = await cli("entry", "create", "--spiffe-id", "spiffe://example.org/orphan", "--parent-id", "spiffe://example.org/spindle/agent/x509pop/none", "--selector", "unix:uid:7");
  assert.equal(orphan.code, 0, orphan.err);
  assert.equal(
    orphan.err,
    "warning: parent ID spiffe://example.org/spindle/agent/x509pop/none is not an attested agent, a generated join token's agent, or the SPIFFE ID of any entry (node alias); the entry matches nothing until one exists\n",
  );
  const logged = srv.logs.find((l) => l["parentId"] === "spiffe://example.org/spindle/agent/x509pop/none");
  assert.ok(logged, "the server logs the warning too");
  assert.equal(logged["level"], "warn");
  assert.match(String(logged["msg"]), /is not an attested agent/);
  const tok = await json("token", "generate", "--spiffe-id", "spiffe://example.org/node/cli");
  assert.deepEqual((tok["alias"] as Record<string, unknown>)["created"], true);
  const under = await cli("entry", "create", "--spiffe-id", "spiffe://example.org/under-alias", "--parent-id", "spiffe://example.org/node/cli", "--selector", "unix:uid:7");
  assert.deepEqual([under.code, under.err], [0, ""], "a node alias is a known parent");
  const underToken = await cli("entry", "create", "--spiffe-id", "spiffe://example.org/under-token", "--parent-id", tok["agentId"] as string, "--selector", "unix:uid:7");
  assert.deepEqual([underToken.code, underToken.err], [0, ""], "a generated token's agent is a known parent");
});

/** Every time-like value in a JSON document, by path. */
function times(doc: unknown, path = "$"): [string, unknown][] {
  if (Array.isArray(doc)) return doc.flatMap((v, i) => times(v, `${path}[${i}]`));
  if (doc === null || typeof doc !== "object") return [];
  return Object.entries(doc).flatMap(([k, v]) => (/(At|^notBefore|^notAfter)$/.test(k) ? [[`${path}.${k}`, v] as [string, unknown]] : times(v, `${path}.${k}`)));
}
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test("JSON output: every time is RFC 3339 (golden keys per command)", async () => {
  const file = join(srv.dir, "ts.json");
  writeFileSync(file, JSON.stringify({ keys: [], spiffe_sequence: 1 }));
  assert.equal((await cli("bundle", "set", "--id", "ts.org", "--path", file)).code, 0);
  const e = await json("entry", "create", "--spiffe-id", "spiffe://example.org/ts", "--parent-id", "spiffe://example.org/spindle/server", "--selector", "x509pop:subject:cn:ts", "--expires-at", "2031-02-03T04:05:06Z");
  const batchFile = join(srv.dir, "ts-batch.json");
  writeFileSync(batchFile, JSON.stringify([{ spiffeId: "spiffe://example.org/ts-b", parentId: "spiffe://example.org/ts", selectors: [{ type: "unix", value: "uid:9" }] }]));
  const batch = await cli("entry", "create", "--data", batchFile, "--output", "json");
  assert.equal(batch.code, 0, batch.err);
  const docs: Record<string, unknown> = {
    entry: e,
    entries: await json("entry", "show", "--spiffe-id", "spiffe://example.org/ts"),
    batch: JSON.parse(batch.out),
    bundles: await json("bundle", "list"),
    authorities: await json("authority", "show"),
    token: await json("token", "generate"),
  };
  const found = Object.entries(docs).flatMap(([name, d]) => times(d, name));
  assert.deepEqual(
    [...new Set(found.map(([p]) => p.replace(/\[\d+\]/g, "[]")))].sort(),
    [
      "authorities.authorities[].notAfter",
      "authorities.authorities[].notBefore",
      "authorities.authorities[].safeToActivateAt",
      "batch.results[].entry.createdAt",
      "batch.results[].entry.updatedAt",
      "bundles.bundles[].updatedAt",
      "entries.entries[].createdAt",
      "entries.entries[].expiresAt",
      "entries.entries[].updatedAt",
      "entry.createdAt",
      "entry.expiresAt",
      "entry.updatedAt",
      "token.expiresAt",
    ],
  );
  for (const [p, v] of found) assert.match(String(v), RFC3339, p);
  assert.equal(e["expiresAt"], "2031-02-03T04:05:06.000Z");
  assert.ok(Math.abs(Date.parse(e["createdAt"] as string) - Date.now()) < 600_000, "createdAt is now, not a misread number");
});
