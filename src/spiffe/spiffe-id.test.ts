import { test } from "node:test";
import assert from "node:assert/strict";
import { SpindleError, type ErrorCode } from "../common/errors.js";
import { isSpiffeId, parseSpiffeId, requireWorkloadId, spiffeIdFromParts, spiffeIdFromPath } from "./spiffe-id.js";
import { isTrustDomain, parseTrustDomain } from "./trust-domain.js";

function assertCode(fn: () => unknown, code: ErrorCode, messagePart?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SpindleError, `expected a SpindleError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (messagePart !== undefined) assert.ok(err.message.includes(messagePart), `message ${JSON.stringify(err.message)} lacks ${messagePart}`);
    return true;
  });
}

test("parseSpiffeId rejects each section 1 violation with its own code", () => {
  const cases: [string, ErrorCode, string?][] = [
    ["", "ERR_SPIFFE_ID_EMPTY"],
    ["Spiffe://example.org/a", "ERR_SPIFFE_ID_SCHEME"],
    ["SPIFFE://example.org/a", "ERR_SPIFFE_ID_SCHEME"],
    ["spiffe:/example.org/a", "ERR_SPIFFE_ID_SCHEME"],
    ["https://example.org/a", "ERR_SPIFFE_ID_SCHEME"],
    ["example.org/a", "ERR_SPIFFE_ID_SCHEME"],
    ["spiffe://", "ERR_SPIFFE_ID_TRUST_DOMAIN_EMPTY"],
    ["spiffe:///", "ERR_SPIFFE_ID_TRUST_DOMAIN_EMPTY"],
    ["spiffe:///path", "ERR_SPIFFE_ID_TRUST_DOMAIN_EMPTY"],
    ["spiffe://Example.org/a", "ERR_SPIFFE_ID_TRUST_DOMAIN_CHAR", "index 9"],
    ["spiffe://example.org:8080/a", "ERR_SPIFFE_ID_TRUST_DOMAIN_CHAR", '":"'],
    ["spiffe://u@example.org/a", "ERR_SPIFFE_ID_TRUST_DOMAIN_CHAR", '"@"'],
    ["spiffe://exa mple.org", "ERR_SPIFFE_ID_TRUST_DOMAIN_CHAR"],
    ["spiffe://example.org/a b", "ERR_SPIFFE_ID_PATH_CHAR", "index 22"],
    ["spiffe://example.org/a/b:c", "ERR_SPIFFE_ID_PATH_CHAR", '":"'],
    ["spiffe://example.org/caf\u00e9", "ERR_SPIFFE_ID_PATH_CHAR"],
    ["spiffe://example.org/a+b", "ERR_SPIFFE_ID_PATH_CHAR"],
    ["spiffe://example.org/", "ERR_SPIFFE_ID_TRAILING_SLASH"],
    ["spiffe://example.org/a/", "ERR_SPIFFE_ID_TRAILING_SLASH"],
    ["spiffe://example.org//a", "ERR_SPIFFE_ID_EMPTY_SEGMENT"],
    ["spiffe://example.org/a//b", "ERR_SPIFFE_ID_EMPTY_SEGMENT"],
    ["spiffe://example.org/.", "ERR_SPIFFE_ID_DOT_SEGMENT"],
    ["spiffe://example.org/..", "ERR_SPIFFE_ID_DOT_SEGMENT"],
    ["spiffe://example.org/a/./b", "ERR_SPIFFE_ID_DOT_SEGMENT"],
    ["spiffe://example.org/a/../b", "ERR_SPIFFE_ID_DOT_SEGMENT"],
    ["spiffe://example.org/a%2Fb", "ERR_SPIFFE_ID_PERCENT_ENCODED"],
    ["spiffe://ex%41mple.org/a", "ERR_SPIFFE_ID_PERCENT_ENCODED"],
    ["spiffe://example.org/a?x=1", "ERR_SPIFFE_ID_QUERY_OR_FRAGMENT", "query"],
    ["spiffe://example.org?x", "ERR_SPIFFE_ID_QUERY_OR_FRAGMENT"],
    ["spiffe://example.org/a#frag", "ERR_SPIFFE_ID_QUERY_OR_FRAGMENT", "fragment"],
  ];
  for (const [input, code, part] of cases) {
    assertCode(() => parseSpiffeId(input), code, part);
  }
});

test("parseSpiffeId enforces the 2048-byte limit in bytes, not characters", () => {
  const base = "spiffe://example.org/";
  const exact = base + "a".repeat(2048 - base.length);
  assert.equal(parseSpiffeId(exact).toString().length, 2048);
  assertCode(() => parseSpiffeId(exact + "a"), "ERR_SPIFFE_ID_TOO_LONG", "2049 bytes");
  // Two-byte characters fail the limit before the character rules are reached.
  assertCode(() => parseSpiffeId(base + "\u00e9".repeat(1020)), "ERR_SPIFFE_ID_TOO_LONG");
});

test("error messages stay short and carry the offending input", () => {
  try {
    parseSpiffeId("spiffe://example.org/" + "a".repeat(3000));
    assert.fail("expected a throw");
  } catch (err) {
    assert.ok(err instanceof SpindleError);
    assert.ok(err.message.length < 250, err.message);
    assert.equal(err.details["value"], "spiffe://example.org/" + "a".repeat(3000));
  }
});

test("parseSpiffeId accepts valid edge cases", () => {
  for (const s of [
    "spiffe://td",
    "spiffe://example.org/.path",
    "spiffe://example.org/..path",
    "spiffe://example.org/...",
    "spiffe://example.org/a/b.c/D-E_F/09",
    "spiffe://a-b_c.0.9/ns/prod/sa/web",
  ]) {
    const id = parseSpiffeId(s);
    assert.equal(id.toString(), s);
    assert.equal(JSON.stringify({ id }), JSON.stringify({ id: s }));
    assert.ok(isSpiffeId(s));
  }
  assert.ok(!isSpiffeId("spiffe://td/"));
});

test("SpiffeId exposes trust domain, path, root-ness and membership and is immutable", () => {
  const id = parseSpiffeId("spiffe://example.org/ns/web");
  assert.equal(id.trustDomain.name, "example.org");
  assert.equal(id.path, "/ns/web");
  assert.equal(id.isRoot, false);
  assert.ok(id.isMemberOf(parseTrustDomain("example.org")));
  assert.ok(!id.isMemberOf(parseTrustDomain("example.com")));
  assert.ok(id.equals(parseSpiffeId("spiffe://example.org/ns/web")));
  assert.ok(!id.equals(parseSpiffeId("spiffe://example.org/ns/Web")));
  assert.ok(Object.isFrozen(id));
  assert.throws(() => {
    (id as { path: string }).path = "/x";
  }, TypeError);
  const root = parseSpiffeId("spiffe://example.org");
  assert.equal(root.isRoot, true);
  assert.equal(root.path, "");
});

test("parseTrustDomain accepts a name or a root ID and rejects everything else", () => {
  assert.equal(parseTrustDomain("example.org").name, "example.org");
  assert.equal(parseTrustDomain("spiffe://example.org").name, "example.org");
  const td = parseTrustDomain("example.org");
  assert.equal(td.id(), "spiffe://example.org");
  assert.equal(`${td}`, "example.org");
  assert.ok(td.equals(parseTrustDomain("spiffe://example.org")));
  for (const [bad, part] of [
    ["", "empty"],
    ["spiffe://", "empty"],
    ["Example.org", "index 0"],
    ["example.org:8080", '":"'],
    ["u@example.org", '"@"'],
    ["spiffe://example.org/path", "has a path"],
    ["spiffe://example.org/", "has a path"],
    ["Spiffe://example.org", '"S"'],
    ["spiffe://Example.org", "index 9"],
  ] as const) {
    assertCode(() => parseTrustDomain(bad), "ERR_TRUST_DOMAIN_INVALID", part);
    assert.ok(!isTrustDomain(bad));
  }
  assert.ok(isTrustDomain("a_b-c.d"));
});

test("spiffeIdFromParts and spiffeIdFromPath validate every segment", () => {
  const td = parseTrustDomain("example.org");
  assert.equal(spiffeIdFromParts(td, "ns", "web").toString(), "spiffe://example.org/ns/web");
  assert.equal(spiffeIdFromParts(td).toString(), "spiffe://example.org");
  assert.equal(spiffeIdFromPath(td, "/a/b").toString(), "spiffe://example.org/a/b");
  assertCode(() => spiffeIdFromParts(td, "a/b"), "ERR_SPIFFE_ID_PATH_CHAR");
  assertCode(() => spiffeIdFromParts(td, ""), "ERR_SPIFFE_ID_TRAILING_SLASH");
  assertCode(() => spiffeIdFromParts(td, "", "x"), "ERR_SPIFFE_ID_EMPTY_SEGMENT");
  assertCode(() => spiffeIdFromParts(td, ".."), "ERR_SPIFFE_ID_DOT_SEGMENT");
  assertCode(() => spiffeIdFromParts(td, "a?b"), "ERR_SPIFFE_ID_PATH_CHAR");
  assertCode(() => spiffeIdFromParts(td, "x".repeat(2048)), "ERR_SPIFFE_ID_TOO_LONG");
  assertCode(() => spiffeIdFromPath(td, "a/b"), "ERR_SPIFFE_ID_PATH_CHAR", "must start with '/'");
});

test("requireWorkloadId needs a path and, when given, the trust domain", () => {
  const td = parseTrustDomain("example.org");
  assert.equal(requireWorkloadId("spiffe://example.org/w", td).path, "/w");
  assert.equal(requireWorkloadId(parseSpiffeId("spiffe://other.org/w")).trustDomain.name, "other.org");
  assertCode(() => requireWorkloadId("spiffe://example.org"), "ERR_SPIFFE_ID_NOT_WORKLOAD");
  assertCode(() => requireWorkloadId("spiffe://other.org/w", td), "ERR_SPIFFE_ID_WRONG_TRUST_DOMAIN", '"example.org"');
  assertCode(() => requireWorkloadId("spiffe://example.org/a/"), "ERR_SPIFFE_ID_TRAILING_SLASH");
});
