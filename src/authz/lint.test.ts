import { test } from "node:test";
import assert from "node:assert/strict";
import { formatProblem, lintPolicy, loadCases, requirePolicy, runCases } from "./index.js";

test("lint warns about covered callers, redundant rules and allow rules a deny rule makes dead", () => {
  const policy = requirePolicy(
    [
      "services:",
      "  svc:",
      "    deny:",
      "      - from: [spiffe://example.org/ns/bad/*]",
      "    allow:",
      "      - from: [spiffe://example.org/ns/web/*, spiffe://example.org/ns/web/sa/a]",
      "        methods: [GET, POST]",
      "      - from: [spiffe://example.org/ns/web/sa/b]",
      "        methods: [GET]",
      "      - from: [spiffe://example.org/ns/bad/sa/x]",
      "      - from: [spiffe://example.org/ns/web/sa/c]",
      "        paths: [/x]",
      "",
    ].join("\n"),
    "lint.yaml",
  );
  assert.deepEqual(lintPolicy(policy).map(formatProblem), [
    'lint.yaml:6:47: warning: svc:allow-0: caller "spiffe://example.org/ns/web/sa/a" is already covered by "spiffe://example.org/ns/web/*"',
    "lint.yaml:8:9: warning: svc:allow-1 is redundant: svc:allow-0 already matches every request it matches",
    "lint.yaml:10:9: warning: svc:allow-2 can never allow anything: svc:deny-0 denies all of its callers",
  ]);
  // allow-3 needs a path allow-0 does not constrain, but allow-0 needs a method allow-3 does not
  // have, so neither covers the other and nothing is reported for it.
});

test("lint is silent on a clean policy", () => {
  const policy = requirePolicy("services:\n  svc:\n    allow:\n      - from: [spiffe://a.org/x]\n      - from: [spiffe://a.org/y]\n        ports: [1]\n", "clean.yaml");
  assert.deepEqual(lintPolicy(policy), []);
});

const policy = requirePolicy("services:\n  svc:\n    allow:\n      - from: [spiffe://a.org/x]\n        methods: [GET]\n  sh:\n    mode: shadow\n    allow: []\n", "p.yaml");

test("cases run against the evaluator; every differing expectation is a failure", () => {
  const text = [
    "cases:",
    "  - {from: spiffe://a.org/x, to: svc, method: GET, expect: allow, rule: svc:allow-0}",
    "  - {from: spiffe://a.org/x, to: svc, method: PUT, expect: allow}",
    "  - {from: spiffe://a.org/x, to: svc, method: GET, expect: allow, rule: svc:allow-1}",
    "  - {from: spiffe://a.org/x, to: sh, expect: allow, shadow: allow}",
    "  - {name: shadow ok, from: spiffe://a.org/x, to: sh, expect: allow, shadow: deny}",
    "",
  ].join("\n");
  const { cases, problems } = loadCases(text, "c.yaml", policy);
  assert.deepEqual(problems, []);
  const results = runCases(policy, cases!);
  assert.deepEqual(results.map((r) => r.failures), [
    [],
    ["expected allow, got deny"],
    ["expected deciding rule svc:allow-1, got svc:allow-0"],
    ["expected shadow allow, got deny"],
    [],
  ]);
  assert.equal(results[4]!.testCase.name, "shadow ok");
  assert.equal(results[1]!.testCase.name, "spiffe://a.org/x -> svc");
});

test("a cases file reports every problem with file:line:column", () => {
  const text = [
    "cases:",
    "  - from: spiffe://A.org/x",
    "    to: nosuch",
    "    expect: maybe",
    "    filter: grpc",
    "    port: eighty",
    "    colour: red",
    "  - to: svc",
    "",
  ].join("\n");
  const { cases, problems } = loadCases(text, "c.yaml", policy);
  assert.equal(cases, undefined);
  assert.deepEqual(problems.map((p) => `${p.line}:${p.column}`), ["2:11", "3:9", "4:13", "5:13", "6:11", "7:5", "8:5", "8:5"]);
  assert.match(problems[0]!.message, /^cases\[0\]\.from: invalid SPIFFE ID/);
  assert.match(problems[1]!.message, /service "nosuch" is not in p\.yaml/);
  assert.deepEqual(problems.slice(6).map((p) => p.message), ['cases[1]: missing "expect"', 'cases[1]: missing "from"']);
});
