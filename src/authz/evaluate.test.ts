import { test } from "node:test";
import assert from "node:assert/strict";
import { evaluate, explainDecision, nearestAllowRule, requirePolicy, type AccessRequest } from "./index.js";

const API = "spiffe://example.org/ns/pay/sa/api";
const policy = requirePolicy(
  [
    "services:",
    `  ${API}:`,
    "    deny:",
    "      - from: [spiffe://example.org/ns/web/sa/admin]",
    "        methods: [DELETE]",
    "    allow:",
    "      - description: web reads",
    "        from: [spiffe://example.org/ns/web/*]",
    "        methods: [GET]",
    "        paths: [/v1/*]",
    "        ports: [8443]",
    "      - from: [spiffe://partner.org/*]",
    "        headers: {x-tenant: partner}",
    "      - from: [spiffe://example.org/ns/web/sa/admin]",
    "      - from: [spiffe://example.org/ns/web/sa/admin]",
    "        methods: [GET]",
    "      - from: [spiffe://example.org/ns/a/sa/b]",
    "      - from: [spiffe://example.org/ns/a/sa/b]",
    "      - from: [spiffe://example.org/ns/a/sa/b]",
    "      - from: [spiffe://example.org/ns/a/sa/b]",
    "      - from: [spiffe://example.org/ns/a/sa/b]",
    "      - from: [spiffe://example.org/ns/a/sa/b]",
    "      - from: [spiffe://example.org/ns/lex/sa/c]",
    "      - from: [spiffe://example.org/ns/lex/sa/c]",
    "  shadowed:",
    "    mode: shadow",
    "    allow:",
    "      - from: [spiffe://example.org/ns/web/*]",
    "",
  ].join("\n"),
  "eval.yaml",
);
const api = policy.services[0]!;
const decide = (req: AccessRequest, filter: "http" | "network" = "http") => evaluate(api, req, filter);

test("patterns are anchored on spiffe://<td>/: look-alike trust domains and sibling paths never match", () => {
  const ok = { method: "GET", path: "/v1/x", port: 8443 };
  assert.equal(decide({ from: "spiffe://example.org/ns/web/sa/frontend", ...ok }).allowed, true);
  for (const from of ["spiffe://example.org.evil/ns/web/sa/frontend", "spiffe://example.org/ns/webx/sa/frontend", "spiffe://example.org/ns/web", "spiffe://partner.org.evil/gw"]) {
    assert.equal(decide({ from, ...ok, headers: { "x-tenant": "partner" } }).allowed, false, from);
  }
  assert.equal(decide({ from: "spiffe://partner.org/gw", headers: { "x-tenant": "partner" } }).allowed, true);
  assert.equal(decide({ from: "spiffe://partner.org/gw", headers: { "x-tenant": "partner2" } }).allowed, false);
});

test("deny rules win over allow rules; the deciding rule is the lexicographically first match, as Envoy reports", () => {
  const admin = "spiffe://example.org/ns/web/sa/admin";
  const del = decide({ from: admin, method: "DELETE", path: "/v1/x", port: 8443 });
  assert.equal(del.allowed, false);
  assert.equal(del.rule?.name, `${API}:deny-0`);
  const get = decide({ from: admin, method: "GET", path: "/v1/x", port: 8443 });
  assert.equal(get.allowed, true);
  assert.equal(get.rule?.name, `${API}:allow-0`);
  // allow-2 and allow-3 match a POST from admin...; allow-4..9 and allow-10/11: "allow-10" < "allow-4".
  assert.equal(decide({ from: admin, method: "POST" }).rule?.name, `${API}:allow-2`);
  assert.equal(decide({ from: "spiffe://example.org/ns/a/sa/b" }).rule?.name, `${API}:allow-4`);
  assert.equal(decide({ from: "spiffe://example.org/ns/lex/sa/c" }).rule?.name, `${API}:allow-10`);
});

test("URI SANs decide; DNS SANs and the subject CN never grant anything", () => {
  assert.equal(decide({ from: { uris: ["https://x.test/a", "spiffe://example.org/ns/web/sa/admin"], dnsNames: ["a.b"], commonName: "c" } }).allowed, true);
  assert.equal(decide({ from: { uris: [], dnsNames: ["spiffe-admin"], commonName: "spiffe://example.org/ns/web/sa/admin" } }).allowed, false);
});

test("the url_path ignores the query; unset HTTP attributes match no condition on them", () => {
  const from = "spiffe://example.org/ns/web/sa/frontend";
  assert.equal(decide({ from, method: "GET", path: "/v1/x?debug=1", port: 8443 }).allowed, true);
  assert.equal(decide({ from, method: "GET", path: "/v2?/v1/", port: 8443 }).allowed, false);
  assert.equal(decide({ from, path: "/v1/x", port: 8443 }).allowed, false);
  assert.equal(decide({ from, method: "GET", path: "/v1/x" }).allowed, false);
});

test("network semantics: allow rules with HTTP conditions are out, deny rules lose their HTTP conditions", () => {
  const admin = "spiffe://example.org/ns/web/sa/admin";
  const d = decide({ from: admin, port: 8443 }, "network");
  assert.equal(d.allowed, false, "the DELETE-only deny now denies every connection");
  assert.equal(d.rule?.name, `${API}:deny-0`);
  assert.equal(decide({ from: "spiffe://example.org/ns/web/sa/frontend", port: 8443 }, "network").allowed, false);
  assert.equal(decide({ from: "spiffe://example.org/ns/a/sa/b", port: 1 }, "network").allowed, true);
});

test("shadow mode allows everything and reports what the rules would have decided", () => {
  const shadowed = policy.services[1]!;
  const d = evaluate(shadowed, { from: "spiffe://other.org/x" });
  assert.equal(d.allowed, true);
  assert.equal(d.shadow?.allowed, false);
  assert.match(explainDecision(shadowed, { from: "spiffe://other.org/x" }, d).join("\n"), /^allowed \(service shadowed is in shadow mode.*\nshadow decision: denied/);
});

test("a denial explains the nearest allow rule and exactly what differed", () => {
  const req = { from: "spiffe://example.org/ns/web/sa/frontend", method: "POST", path: "/v2/x", port: 9000 };
  const near = nearestAllowRule(api, req, "http");
  assert.equal(near?.rule.name, `${API}:allow-0`);
  assert.deepEqual(near?.differences, ["port 9000; the rule needs 8443", "method POST; the rule needs GET", "path /v2/x; the rule needs /v1/*"]);
  const text = explainDecision(api, req, decide(req)).join("\n");
  assert.equal(
    text,
    [
      "denied",
      `  no allow rule of ${API} matches (anyone not allowed is denied)`,
      `  nearest rule: ${API}:allow-0 (eval.yaml:7:9) "web reads"`,
      "    differs: port 9000; the rule needs 8443",
      "    differs: method POST; the rule needs GET",
      "    differs: path /v2/x; the rule needs /v1/*",
    ].join("\n"),
  );
  const hdr = nearestAllowRule(api, { from: "spiffe://partner.org/gw" }, "http");
  assert.deepEqual(hdr?.differences, ["header x-tenant is missing; the rule needs it \"partner\""]);
});
