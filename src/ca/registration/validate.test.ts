import { test } from "node:test";
import assert from "node:assert/strict";
import { SpindleError } from "../../common/errors.js";
import { serverSpiffeId } from "./entry.js";
import { dnsNameProblem, entryProblems, validateEntryInput } from "./validate.js";

const limits = { trustDomain: "example.org", maxX509SvidTtl: 14400, maxJwtSvidTtl: 14400 };

test("a valid entry is normalised: sorted selectors, deduplicated sorted federatesWith, defaults", () => {
  const v = validateEntryInput(
    {
      spiffeId: "spiffe://example.org/web",
      parentId: "spiffe://example.org/spindle/agent/x509pop/ab",
      selectors: [{ type: "unix", value: "uid:1" }, { type: "k8s", value: "ns:a" }],
      federatesWith: ["b.org", "a.org", "b.org"],
    },
    limits,
  );
  assert.deepEqual(v.selectors, [{ type: "k8s", value: "ns:a" }, { type: "unix", value: "uid:1" }]);
  assert.deepEqual(v.federatesWith, ["a.org", "b.org"]);
  assert.deepEqual([v.x509SvidTtl, v.jwtSvidTtl, v.hint, v.admin, v.expiresAt, v.dnsNames], [0, 0, "", false, 0, []]);
});

test("every problem is listed with its field", () => {
  const problems = entryProblems(
    {
      spiffeId: "spiffe://example.org/a",
      parentId: "spiffe://example.org/a",
      selectors: [{ type: "unix", value: "x" }, { type: "unix", value: "x" }, { type: "a:b", value: "" }],
      x509SvidTtl: 1.5,
      jwtSvidTtl: -1,
      dnsNames: ["ok.example", "*.wild.example", "bad_name"],
      hint: "h".repeat(300),
      federatesWith: ["example.org", "spiffe://x.org"],
      expiresAt: -3,
    },
    limits,
  );
  assert.deepEqual(
    problems.map((p) => p.field),
    ["parentId", "selectors[0]", "selectors[1]", "selectors[1]", "selectors[2].type", "selectors[2].value", "x509SvidTtl", "jwtSvidTtl", "dnsNames[2]", "hint", "federatesWith[0]", "federatesWith[1]", "expiresAt"],
  );
  assert.throws(
    () => validateEntryInput({ spiffeId: "", parentId: "", selectors: [] }, limits),
    (e) => SpindleError.is(e, "ERR_ENTRY_INVALID") && (e.details.problems as unknown[]).length === 3,
  );
});

test("DNS names: LDH labels and one leading wildcard", () => {
  assert.equal(dnsNameProblem("a-b.example.com"), undefined);
  assert.equal(dnsNameProblem("*.example.com"), undefined);
  for (const bad of ["", "-a.com", "a..b", "a.*.com", "x".repeat(64) + ".com", "under_score.com"]) assert.ok(dnsNameProblem(bad), bad);
});

const AGENT = "spiffe://example.org/spindle/agent/x509pop/ab";
const messages = (selectors: { type: string; value: string }[], parentId = AGENT, allowUnknownSelectors = false) =>
  entryProblems({ spiffeId: "spiffe://example.org/w", parentId, selectors }, limits, { allowUnknownSelectors }).map((p) => `${p.field}: ${p.message}`);

test("selectors are checked against what the attestors emit; unknown ones only with allowUnknownSelectors", () => {
  assert.deepEqual(messages([{ type: "unix", value: "uid:1000" }, { type: "k8s", value: "ns:web" }]), []);
  const [uid] = messages([{ type: "unix", value: "uid:abc" }]);
  assert.match(uid!, /^selectors\[0\]: selector "unix:uid:abc": the value of unix:uid must be a non-negative integer/);
  const [key] = messages([{ type: "unix", value: "uuid:1000" }]);
  assert.match(key!, /^selectors\[0\]: selector "unix:uuid:1000": unknown unix key "uuid"; accepted keys: uid, user, gid, .* \(to store it anyway, .*--allow-unknown-selectors\)$/);
  const [type] = messages([{ type: "foo", value: "bar" }]);
  assert.match(type!, /^selectors\[0\]: selector "foo:bar": unknown selector type "foo"; known types: unix, k8s, docker \(workload\)/);
  // Allowed on request: unknown types and keys; a known key's malformed value never is.
  assert.deepEqual(messages([{ type: "foo", value: "bar" }, { type: "unix", value: "uuid:1" }], AGENT, true), []);
  assert.equal(messages([{ type: "unix", value: "uid:abc" }], AGENT, true).length, 1);
});

test("node selectors belong on node-alias entries, workload selectors everywhere else", () => {
  const server = serverSpiffeId("example.org");
  assert.deepEqual(messages([{ type: "x509pop", value: "subject:cn:node-1" }], server), []);
  assert.deepEqual(messages([{ type: "join_token", value: "spiffe_id:spiffe://example.org/node/a" }], server), []);
  assert.match(messages([{ type: "unix", value: "uid:0" }], server)[0]!, /unix is a workload selector type; a node-alias entry \(parent spiffe:\/\/example.org\/spindle\/server\) matches agents by their node selectors/);
  assert.match(messages([{ type: "k8s_psat", value: "cluster:prod" }])[0]!, /k8s_psat is a node selector type; it only matches on a node-alias entry \(parent spiffe:\/\/example.org\/spindle\/server\)/);
  // With the flag, unknown types are accepted under either parent.
  assert.deepEqual(messages([{ type: "tpm", value: "pub_hash:ab" }], server, true), []);
});

test("checkSelectors: false keeps stored selectors as they are (updates of other fields)", () => {
  const input = { spiffeId: "spiffe://example.org/w", parentId: AGENT, selectors: [{ type: "legacy", value: "x:1" }] };
  assert.equal(entryProblems(input, limits).length, 1);
  assert.deepEqual(entryProblems(input, limits, { checkSelectors: false }), []);
});
