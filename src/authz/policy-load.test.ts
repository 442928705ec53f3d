import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { SpindleError } from "../common/errors.js";
import { formatProblem, loadPolicy, requirePolicy } from "./index.js";

const testdata = (name: string) => readFileSync(new URL(`./testdata/${name}`, import.meta.url), "utf8");

test("validation reports every problem of a file at once, each with file:line:column", () => {
  const { policy, problems } = loadPolicy(testdata("invalid-policy.yaml"), "invalid-policy.yaml");
  assert.equal(policy, undefined);
  // The expected list is checked in beside the input: one line per problem, in position order.
  const expected = testdata("invalid-policy.problems").trimEnd().split("\n");
  assert.deepEqual(problems.map(formatProblem), expected);
  assert.ok(expected.length >= 20);
});

test("a YAML syntax error is reported with its position, and a duplicate key does not hide other problems", () => {
  const broken = loadPolicy("services:\n  a: [\n", "broken.yaml");
  assert.equal(broken.policy, undefined);
  assert.match(formatProblem(broken.problems[0]!), /^broken\.yaml:\d+:\d+: error: YAML: /);
  const dup = loadPolicy("services:\n  a:\n    allow: []\n  a:\n    allow: []\n    mode: loud\n", "dup.yaml");
  assert.deepEqual(dup.problems.map((p) => `${p.line}:${p.column}`), ["4:3", "6:11"]);
  assert.match(dup.problems[0]!.message, /YAML: Map keys must be unique/);
});

test("a valid policy loads into the model, with warnings for duplicates and services that allow nobody", () => {
  const text = [
    "version: 1",
    "services:",
    "  spiffe://example.org/ns/pay/sa/api:",
    "    description: payments",
    "    allow:",
    "      - from: [spiffe://example.org/ns/web/*, spiffe://example.org/ns/web/*]",
    "        paths: [/v1/*, /health]",
    "        headers: {x-a: \"*\", x-b: \"pre*\", x-c: exact}",
    "  gw.internal:",
    "    mode: shadow",
    "    deny:",
    "      - from: [spiffe://partner.org/*]",
    "",
  ].join("\n");
  const { policy, problems } = loadPolicy(text, "ok.yaml");
  assert.ok(policy);
  assert.deepEqual(problems.map(formatProblem), [
    'ok.yaml:6:47: warning: allow[0].from: "spiffe://example.org/ns/web/*" is listed twice',
    'ok.yaml:9:3: warning: service "gw.internal" allows nobody: every request is denied (write "allow: []" to make that explicit)',
  ]);
  const [api, gw] = policy.services;
  assert.equal(api!.kind, "spiffe-id");
  assert.equal(gw!.kind, "listener");
  assert.equal(gw!.mode, "shadow");
  const rule = api!.allow[0]!;
  assert.equal(rule.name, "spiffe://example.org/ns/pay/sa/api:allow-0");
  assert.deepEqual(rule.pos, { file: "ok.yaml", line: 6, column: 9 });
  assert.deepEqual(rule.callers.map((c) => [c.kind, c.value]), [["prefix", "spiffe://example.org/ns/web/"]]);
  assert.deepEqual(rule.paths.map((p) => [p.kind, p.value]), [["prefix", "/v1/"], ["exact", "/health"]]);
  assert.deepEqual(rule.headers.map((h) => [h.name, h.kind, h.value]), [["x-a", "present", ""], ["x-b", "prefix", "pre"], ["x-c", "exact", "exact"]]);
  assert.deepEqual(gw!.deny[0]!.callers.map((c) => [c.kind, c.value]), [["trust-domain", "spiffe://partner.org/"]]);
});

test("requirePolicy throws ERR_AUTHZ_POLICY_INVALID listing every error with its position", () => {
  assert.throws(
    () => requirePolicy("services:\n  a:\n    allow:\n      - from: [x]\n        ports: [0]\n", "r.yaml"),
    (e) => SpindleError.is(e, "ERR_AUTHZ_POLICY_INVALID") && /r\.yaml:4:16: error/.test(e.message) && /r\.yaml:5:17: error/.test(e.message),
  );
});
