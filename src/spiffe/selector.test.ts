import { test } from "node:test";
import assert from "node:assert/strict";
import { SpindleError } from "../common/errors.js";
import { SelectorSet, entryMatches, formatSelector, parseSelector, type Selector } from "./selector.js";

function assertInvalid(fn: () => unknown, part: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SpindleError);
    assert.equal(err.code, "ERR_SELECTOR_INVALID");
    assert.ok(err.message.includes(part), err.message);
    return true;
  });
}

const sel = (...texts: string[]): Selector[] => texts.map(parseSelector);

test("parseSelector splits at the first colon and keeps colons in the value", () => {
  assert.deepEqual(parseSelector("unix:uid:1000"), { type: "unix", value: "uid:1000" });
  assert.deepEqual(parseSelector("k8s:pod-label:app:web"), { type: "k8s", value: "pod-label:app:web" });
  assert.deepEqual(parseSelector("a:b"), { type: "a", value: "b" });
  assert.ok(Object.isFrozen(parseSelector("a:b")));
});

test("parseSelector rejects a missing separator, empty type or empty value", () => {
  assertInvalid(() => parseSelector(""), "no ':'");
  assertInvalid(() => parseSelector("unix"), "no ':'");
  assertInvalid(() => parseSelector(":1000"), "type is empty");
  assertInvalid(() => parseSelector("unix:"), "value is empty");
  assertInvalid(() => parseSelector(":"), "type is empty");
});

test("formatSelector round-trips and refuses selectors that would not", () => {
  for (const t of ["unix:uid:1000", "docker:label:a=b", "x:y"]) assert.equal(formatSelector(parseSelector(t)), t);
  assertInvalid(() => formatSelector({ type: "", value: "v" }), "type is empty");
  assertInvalid(() => formatSelector({ type: "a:b", value: "v" }), "type contains ':'");
  assertInvalid(() => formatSelector({ type: "t", value: "" }), "value is empty");
});

test("entryMatches is a subset test; an empty entry list matches nothing", () => {
  const workload = sel("unix:uid:1000", "unix:gid:1000", "k8s:ns:prod");
  assert.ok(entryMatches(sel("unix:uid:1000"), workload));
  assert.ok(entryMatches(sel("unix:uid:1000", "k8s:ns:prod"), workload));
  assert.ok(entryMatches(sel("unix:uid:1000", "unix:gid:1000", "k8s:ns:prod"), workload));
  assert.ok(!entryMatches(sel("unix:uid:1000", "k8s:ns:dev"), workload));
  assert.ok(!entryMatches(sel("unix:uid:100"), workload));
  // Type and value are compared separately, not as a prefix of the text.
  assert.ok(!entryMatches(sel("unix:uid"), workload));
  assert.ok(!entryMatches([], workload));
  assert.ok(!entryMatches([], []));
  assert.ok(!entryMatches(sel("unix:uid:1000"), []));
});

test("SelectorSet can be built once and reused across entries", () => {
  const set = new SelectorSet(sel("unix:uid:1000", "unix:uid:1000", "k8s:ns:prod"));
  assert.equal(set.size, 2);
  assert.ok(set.has(parseSelector("k8s:ns:prod")));
  assert.ok(entryMatches(sel("k8s:ns:prod"), set));
  assert.ok(!entryMatches(sel("k8s:ns:dev"), set));
});
