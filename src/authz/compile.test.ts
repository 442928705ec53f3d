import { test } from "node:test";
import assert from "node:assert/strict";
import { SpindleError } from "../common/errors.js";
import {
  callerMatchers,
  compilePolicy,
  denyAllFilter,
  estimateRegexProgramSize,
  requirePolicy,
  toTypedExtensionConfig,
  type HttpRbacJson,
  type NetworkRbacJson,
} from "./index.js";
import { parseCallerPattern } from "./caller-pattern.js";

const API = "spiffe://example.org/ns/payments/sa/api";
const policyOf = (body: string) => requirePolicy(`services:\n  ${API}:\n${body}`, "p.yaml");
const http = (body: string) => compilePolicy(policyOf(body), { filter: "http" });
const cfg = (f: { typed_config: unknown }) => f.typed_config as HttpRbacJson;

test("a DENY filter comes first, then the ALLOW filter, with per-service stat prefixes and per-rule stats", () => {
  const r = http("    deny:\n      - from: [spiffe://example.org/ns/x/sa/bad]\n    allow:\n      - from: [spiffe://example.org/ns/x/*]\n");
  assert.deepEqual(r.filters.map((f) => f.name), ["spindle.authz.deny", "spindle.authz.allow"]);
  const [deny, allow] = r.filters.map(cfg);
  assert.equal(deny!.rules.action, "DENY");
  assert.deepEqual(Object.keys(deny!.rules.policies), [`${API}:deny-0`]);
  assert.equal(allow!.rules.action, "ALLOW");
  assert.deepEqual(Object.keys(allow!.rules.policies), [`${API}:allow-0`]);
  assert.equal(deny!.rules_stat_prefix, "spindle_authz.example_org_ns_payments_sa_api.deny.");
  assert.equal(allow!.rules_stat_prefix, "spindle_authz.example_org_ns_payments_sa_api.allow.");
  assert.equal(allow!.track_per_rule_stats, true);
  assert.equal(allow!.shadow_rules, undefined);
});

test("an empty allow-list compiles to an explicit deny-all: ALLOW with rules present and no policies", () => {
  for (const body of ["    allow: []\n", "    deny:\n      - from: [spiffe://example.org/ns/x/sa/y]\n"]) {
    const allow = http(body).filters[1]!;
    assert.deepEqual(cfg(allow).rules, { action: "ALLOW", policies: {} });
    const msg = toTypedExtensionConfig(allow);
    assert.equal(msg.typedConfig?.typeUrl, "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC");
    assert.match(JSON.stringify(allow), /"rules":\{"action":"ALLOW","policies":\{\}\}/);
  }
});

test("shadow mode enforces nothing explicitly and evaluates the rules as shadow_rules", () => {
  const r = http("    mode: shadow\n    deny:\n      - from: [spiffe://example.org/ns/x/sa/bad]\n    allow:\n      - from: [spiffe://example.org/ns/x/*]\n");
  for (const [i, f] of r.filters.map(cfg).entries()) {
    assert.deepEqual(f.rules, { action: "DENY", policies: {} }, "enforced rules allow everything");
    assert.equal(f.shadow_rules?.action, i === 0 ? "DENY" : "ALLOW");
    assert.equal(Object.keys(f.shadow_rules?.policies ?? {}).length, 1);
    assert.equal(f.shadow_rules_stat_prefix, f.rules_stat_prefix);
    assert.equal(f.track_per_rule_stats, true);
  }
});

test("network filter: an ALLOW rule with HTTP conditions is left out (narrows), a DENY rule loses them (widens), each with a warning at the rule", () => {
  const body = [
    "    deny:",
    "      - from: [spiffe://example.org/ns/x/sa/bad]",
    "        methods: [DELETE]",
    "        ports: [8443]",
    "    allow:",
    "      - from: [spiffe://example.org/ns/x/*]",
    "        paths: [/v1/*]",
    "      - from: [spiffe://example.org/ns/y/*]",
    "        ports: [5432]",
    "",
  ].join("\n");
  const r = compilePolicy(policyOf(body), { filter: "network" });
  const [deny, allow] = r.filters.map((f) => f.typed_config as NetworkRbacJson);
  assert.equal(deny!["@type"], "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC");
  assert.equal(deny!.stat_prefix, "spindle_authz.example_org_ns_payments_sa_api.deny.");
  assert.ok(!("track_per_rule_stats" in deny!), "the network RBAC has no track_per_rule_stats field");
  assert.deepEqual(deny!.rules.policies[`${API}:deny-0`]!.permissions, [{ destination_port: 8443 }]);
  assert.deepEqual(Object.keys(allow!.rules.policies), [`${API}:allow-1`]);
  assert.deepEqual(r.warnings.map((w) => `${w.file}:${w.line}:${w.column}:${w.severity}`), ["p.yaml:4:9:warning", "p.yaml:8:9:warning"]);
  assert.match(r.warnings[0]!.message, /deny-0: HTTP-only methods dropped in the network filter; the rule denies these callers for every request/);
  assert.match(r.warnings[1]!.message, /allow-0: left out of the network filter \(it has HTTP-only paths\)/);
  for (const f of r.filters) toTypedExtensionConfig(f);
  // All ALLOW rules dropped: still an explicit deny-all, never absent rules.
  const only = compilePolicy(policyOf("    allow:\n      - from: [spiffe://example.org/ns/x/*]\n        methods: [GET]\n"), { filter: "network" });
  assert.deepEqual((only.filters[1]!.typed_config as NetworkRbacJson).rules, { action: "ALLOW", policies: {} });
});

test("HTTP permissions use url_path, the :method header and destination_port, ANDed across kinds", () => {
  const r = http("    allow:\n      - from: [spiffe://example.org/ns/x/sa/y]\n        methods: [GET]\n        paths: [/a, /b/*]\n        headers: {x-t: \"*\"}\n        ports: [1, 2]\n");
  assert.deepEqual(cfg(r.filters[1]!).rules.policies[`${API}:allow-0`]!.permissions, [
    {
      and_rules: {
        rules: [
          { header: { name: ":method", string_match: { exact: "GET" } } },
          { or_rules: { rules: [{ url_path: { path: { exact: "/a" } } }, { url_path: { path: { prefix: "/b/" } } }] } },
          { header: { name: "x-t", present_match: true } },
          { or_rules: { rules: [{ destination_port: 1 }, { destination_port: 2 }] } },
        ],
      },
    },
  ]);
});

test("output is deterministic: caller order and duplicates do not change it", () => {
  const a = http("    allow:\n      - from: [spiffe://b.org/*, spiffe://a.org/x/sa/1, spiffe://a.org/x/sa/2, spiffe://a.org/x/*]\n");
  const b = http("    allow:\n      - from: [spiffe://a.org/x/*, spiffe://a.org/x/sa/2, spiffe://b.org/*, spiffe://a.org/x/sa/1]\n");
  assert.equal(JSON.stringify(a.filters), JSON.stringify(b.filters));
  // Covered IDs disappear; every matcher is anchored on spiffe://<td>/.
  assert.deepEqual(cfg(a.filters[1]!).rules.policies[`${API}:allow-0`]!.principals, [
    { authenticated: { principal_name: { prefix: "spiffe://a.org/x/" } } },
    { authenticated: { principal_name: { prefix: "spiffe://b.org/" } } },
  ]);
});

const pos = { file: "t", line: 1, column: 1 };
const patterns = (ids: string[]) => ids.map((id) => {
  const p = parseCallerPattern(id, pos);
  if (!p.ok) throw new Error(p.message);
  return p.pattern;
});

test("long caller lists collapse into regexes that stay within the RE2 program-size budget and match exactly the listed IDs", () => {
  const ids = Array.from({ length: 200 }, (_, i) => `spiffe://example.org/ns/team-${i % 4}/sa/service-account-number-${i}`);
  const matchers = callerMatchers(patterns(ids));
  assert.ok(matchers.length < ids.length / 3, `${matchers.length} matchers for ${ids.length} callers`);
  const regexes = matchers.flatMap((m) => ("safe_regex" in m ? [m.safe_regex.regex] : []));
  assert.ok(regexes.length > 0);
  for (const r of regexes) assert.ok(estimateRegexProgramSize(r) <= 100, r);
  const matches = (id: string) =>
    matchers.some((m) => ("exact" in m ? m.exact === id : "prefix" in m ? id.startsWith(m.prefix) : new RegExp(`^(?:${m.safe_regex.regex})$`, "u").test(id)));
  for (const id of ids) assert.ok(matches(id), id);
  for (const id of ["spiffe://example.org/ns/team-0/sa/service-account-number-2", "spiffe://example.org/ns/team-0/sa/service-account-number-0x", "spiffe://exampleXorg/ns/team-0/sa/service-account-number-0"]) {
    assert.ok(!matches(id), `must not match ${id}`);
  }
  // A smaller budget gives more, smaller regexes; an ID too long for any regex stays exact.
  assert.ok(callerMatchers(patterns(ids), 60).length > matchers.length);
  const long = `spiffe://example.org/${"x".repeat(120)}`;
  assert.deepEqual(callerMatchers(patterns([long, `${long}y`])), [{ exact: long }, { exact: `${long}y` }]);
});

test("compilePolicy names the service to compile and rejects unknown ones", () => {
  const p = requirePolicy(`services:\n  a:\n    allow: []\n  b:\n    allow: []\n`, "two.yaml");
  assert.throws(() => compilePolicy(p, { filter: "http" }), (e) => SpindleError.is(e, "ERR_INVALID_ARGUMENT") && /has 2 services/.test(e.message));
  assert.throws(() => compilePolicy(p, { filter: "http", service: "c" }), (e) => SpindleError.is(e, "ERR_AUTHZ_SERVICE_UNKNOWN"));
  assert.equal(compilePolicy(p, { filter: "http", service: "b" }).service, "b");
});

test("the ECDS default config denies everything and decodes as a TypedExtensionConfig", () => {
  for (const kind of ["http", "network"] as const) {
    const f = denyAllFilter(kind);
    assert.equal(f.name, "spindle.authz.allow");
    assert.deepEqual(f.typed_config.rules, { action: "ALLOW", policies: {} });
    assert.equal(toTypedExtensionConfig(f).name, "spindle.authz.allow");
  }
});
