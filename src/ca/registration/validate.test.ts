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
      parentId: serverSpiffeId("example.org"),
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
    ["parentId", "selectors[1]", "selectors[2].type", "selectors[2].value", "x509SvidTtl", "jwtSvidTtl", "dnsNames[2]", "hint", "federatesWith[0]", "federatesWith[1]", "expiresAt"],
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
