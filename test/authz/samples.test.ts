// Sample policies cannot rot: every conf/policy*.yaml loads without a problem, lints clean and
// compiles to filters Envoy's types decode; the JSON Schema stays in step with the loader.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { compileAll, lintPolicy, loadCases, loadPolicy, runCases, toTypedExtensionConfig } from "../../src/authz/index.js";
import { HEADER_NAME, LISTENER_NAME, METHOD, POLICY_KEYS } from "../../src/authz/policy-load.js";

const conf = new URL("../../conf/", import.meta.url);
const read = (name: string) => readFileSync(new URL(name, conf), "utf8");
const samples = readdirSync(conf).filter((f) => /^policy.*\.yaml$/.test(f) && !f.endsWith("-cases.yaml")).sort();

test("there is a full and a minimal sample policy", () => {
  assert.deepEqual(samples, ["policy-minimal.yaml", "policy.yaml"]);
});

for (const name of samples) {
  test(`conf/${name} loads without problems, lints clean and compiles to decodable filters`, () => {
    const { policy, problems } = loadPolicy(read(name), name);
    assert.deepEqual(problems, []);
    assert.ok(policy);
    assert.deepEqual(lintPolicy(policy), []);
    for (const filter of ["http", "network"] as const) {
      for (const r of compileAll(policy, { filter })) for (const f of r.filters) toTypedExtensionConfig(f);
    }
  });
}

test("conf/policy-cases.yaml passes against conf/policy.yaml", () => {
  const { policy } = loadPolicy(read("policy.yaml"), "policy.yaml");
  const { cases, problems } = loadCases(read("policy-cases.yaml"), "policy-cases.yaml", policy!);
  assert.deepEqual(problems, []);
  assert.deepEqual(runCases(policy!, cases!).flatMap((r) => r.failures), []);
});

test("docs/authz-policy.schema.json allows exactly the loader's keys and uses its patterns", () => {
  const schema = JSON.parse(readFileSync(new URL("../../docs/authz-policy.schema.json", import.meta.url), "utf8"));
  const defs = schema.$defs;
  assert.deepEqual(Object.keys(schema.properties), [...POLICY_KEYS.root]);
  assert.deepEqual(Object.keys(defs.service.properties).sort(), [...POLICY_KEYS.service].sort());
  assert.deepEqual(Object.keys(defs.rule.properties).sort(), [...POLICY_KEYS.rule].sort());
  assert.equal(defs.listenerName.pattern, LISTENER_NAME.source);
  assert.equal(defs.rule.properties.methods.items.pattern, METHOD.source);
  assert.equal(defs.rule.properties.headers.propertyNames.pattern, HEADER_NAME.source);
  const caller = new RegExp(defs.callerPattern.pattern, "u");
  const good = ["spiffe://example.org/ns/web/sa/frontend", "spiffe://example.org/ns/web/*", "spiffe://partner.org/*"];
  const bad = ["spiffe://example.org", "spiffe://example.org/", "spiffe://example.org/ns/*/x", "spiffe://Example.org/x", "spiffe://example.org/ns/pay*"];
  for (const c of good) assert.ok(caller.test(c), c);
  for (const c of bad) assert.ok(!caller.test(c), c);
  for (const c of [...good, ...bad]) {
    const text = `services:\n  svc:\n    allow:\n      - from: ["${c}"]\n`;
    assert.equal(loadPolicy(text, "t.yaml").policy !== undefined, caller.test(c), `loader and schema agree on ${c}`);
  }
});
