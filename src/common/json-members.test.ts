import { test } from "node:test";
import assert from "node:assert/strict";
import { findDuplicateMemberName } from "./json-members.js";

test("finds a duplicate member name at any depth, after unescaping", () => {
  assert.equal(findDuplicateMemberName('{"aud":"a","sub":"s","aud":"b"}'), "aud");
  assert.equal(findDuplicateMemberName('{"a\\u0075d":"a", "aud" : "b"}'), "aud");
  assert.equal(findDuplicateMemberName('{"x":{"k":1,"k":2}}'), "k");
  assert.equal(findDuplicateMemberName('{"x":[{"k":1},{"k":2,"k":3}]}'), "k");
  assert.equal(findDuplicateMemberName('{"q\\"":1,"q\\"":2}'), 'q"');
});

test("equal names in different objects, and strings that look like names, are not duplicates", () => {
  assert.equal(findDuplicateMemberName('{"aud":["aud","aud"],"sub":"aud"}'), undefined);
  assert.equal(findDuplicateMemberName('{"a":{"k":1},"b":{"k":1},"k":"\\"k\\":"}'), undefined);
  assert.equal(findDuplicateMemberName('["k","k"]'), undefined);
  assert.equal(findDuplicateMemberName('{"a\\\\":1,"a":2}'), undefined);
  assert.equal(findDuplicateMemberName("{}"), undefined);
});
