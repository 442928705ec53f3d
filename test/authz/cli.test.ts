// `spindle authz ...` end to end through runCli (in-process), including exit codes:
// 0 success / allowed / all cases pass, 1 could not answer, 2 the answer is no.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { runCli } from "../../src/cli/program.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const POLICY = join(root, "conf/policy.yaml");
const API = "spiffe://example.org/ns/payments/sa/api";

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(["authz", ...argv], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
  return { code, out, err };
}

function tempFile(name: string, text: string): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "spindle-authz-"));
  const path = join(dir, name);
  writeFileSync(path, text);
  return { path, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test("compile prints one service's filters (YAML or JSON), or every service keyed by name", async () => {
  const one = await cli("compile", POLICY, "--service", API, "--format", "json");
  assert.equal(one.code, 0, one.err);
  assert.equal(one.err, "");
  const filters = JSON.parse(one.out) as { name: string; typed_config: Record<string, unknown> }[];
  assert.deepEqual(filters.map((f) => f.name), ["spindle.authz.deny", "spindle.authz.allow"]);
  assert.equal(filters[1]!.typed_config["@type"], "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC");
  const all = await cli("compile", POLICY, "--filter", "network");
  assert.equal(all.code, 0, all.err);
  assert.deepEqual(Object.keys(parse(all.out).services), [API, "ledger-db"]);
  assert.match(all.err, /^conf\/policy\.yaml|policy\.yaml:13:9: warning: .*allow-0: left out of the network filter/m);
  assert.equal((await cli("compile", POLICY, "--service", API)).out, (await cli("compile", POLICY, "--service", API)).out, "deterministic");
  // A smaller regex budget splits the frontend|checkout alternation into two exact matchers.
  const small = await cli("compile", POLICY, "--service", API, "--max-regex-program-size", "50");
  assert.equal(small.code, 0, small.err);
  assert.doesNotMatch(small.out, /safe_regex/);
  assert.match(small.out, /exact: spiffe:\/\/example\.org\/ns\/web\/sa\/checkout\n[\s\S]*exact: spiffe:\/\/example\.org\/ns\/web\/sa\/frontend\n/);
  assert.match((await cli("compile", POLICY, "--service", API)).out, /safe_regex:\n\s+regex: spiffe:\/\/example\\\.org\/ns\/web\/sa\/\(\?:checkout\|frontend\)\n/);
  assert.equal((await cli("compile", POLICY, "--max-regex-program-size", "ten")).code, 1);
});

test("compile reports an unknown service, an unreadable file and every problem of an invalid policy with exit 1", async () => {
  const unknown = await cli("compile", POLICY, "--service", "spiffe://example.org/nope");
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /^error \[ERR_AUTHZ_SERVICE_UNKNOWN\]: service "spiffe:\/\/example\.org\/nope" is not in/);
  const missing = await cli("compile", "/nonexistent/policy.yaml");
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^error \[ERR_CONFIG_READ\]/);
  const invalid = await cli("compile", join(root, "src/authz/testdata/invalid-policy.yaml"));
  assert.equal(invalid.code, 1);
  assert.equal(invalid.out, "");
  const lines = invalid.err.trimEnd().split("\n");
  assert.ok(lines.length > 20);
  for (const l of lines.slice(0, -1)) assert.match(l, /invalid-policy\.yaml:\d+:\d+: (error|warning): /);
  assert.match(lines.at(-1)!, /^error \[ERR_AUTHZ_POLICY_INVALID\]: .*invalid-policy\.yaml is invalid \(\d+ problems above\)$/);
});

test("check prints the decision with the deciding rule; a denial exits 2 with the nearest rule and what differed", async () => {
  const ok = await cli("check", POLICY, "--from", "spiffe://example.org/ns/web/sa/frontend", "--to", API, "--method", "POST", "--path", "/v1/charges", "--port", "8443");
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, `allowed\n  allowed by ${API}:allow-0 (${POLICY}:13:9) "the web tier creates and reads charges"\n`);
  const no = await cli("check", POLICY, "--from", "spiffe://partner.org/gw", "--to", API, "--method", "POST", "--path", "/v1/charges", "--header", "x-tenant=other");
  assert.equal(no.code, 2);
  assert.match(no.out, /^denied\n/);
  assert.match(no.out, /nearest rule: .*:allow-2 .*\n\s+differs: header x-tenant is "other"; the rule needs "partner"\n$/);
  const denied = await cli("check", POLICY, "--from", "spiffe://example.org/ns/batch/sa/legacy-export", "--to", API);
  assert.equal(denied.code, 2);
  assert.match(denied.out, /denied by .*:deny-0/);
  const shadow = await cli("check", POLICY, "--from", "spiffe://other.org/x", "--to", "ledger-db", "--port", "5432");
  assert.equal(shadow.code, 0);
  assert.match(shadow.out, /shadow decision: denied/);
});

test("check rejects bad arguments with exit 1", async () => {
  for (const args of [
    ["--from", "spiffe://Bad/x", "--to", API],
    ["--from", "spiffe://example.org/x", "--to", API, "--port", "99999"],
    ["--from", "spiffe://example.org/x", "--to", API, "--header", "novalue"],
    ["--from", "spiffe://example.org/x", "--to", "nosuch"],
  ]) {
    const r = await cli("check", POLICY, ...args);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(r.err, /^error \[ERR_/);
  }
  const r = await cli("check", POLICY, "--to", API);
  assert.equal(r.code, 1);
  assert.match(r.err, /required option '--from/);
});

test("test runs the expectation table: 0 when all pass, 2 on any mismatch, 1 for an invalid cases file", async () => {
  const pass = await cli("test", POLICY, join(root, "conf/policy-cases.yaml"));
  assert.equal(pass.code, 0, pass.out + pass.err);
  assert.match(pass.out, /8 passed, 0 failed\n$/);
  const bad = tempFile("cases.yaml", `cases:\n  - {from: spiffe://example.org/ns/web/sa/frontend, to: ${API}, method: DELETE, expect: allow}\n`);
  try {
    const fail = await cli("test", POLICY, bad.path);
    assert.equal(fail.code, 2);
    assert.match(fail.out, /^FAIL {2}spiffe:\/\/example\.org\/ns\/web\/sa\/frontend -> .* \(.*cases\.yaml:2\)\n {8}expected allow, got deny\n0 passed, 1 failed\n$/);
  } finally {
    bad.done();
  }
  const invalid = tempFile("cases.yaml", "cases:\n  - {to: nosuch}\n");
  try {
    const r = await cli("test", POLICY, invalid.path);
    assert.equal(r.code, 1);
    assert.match(r.err, /cases\.yaml:2:10: error: cases\[0\]\.to: service "nosuch"/);
    assert.match(r.err, /error \[ERR_AUTHZ_CASES_INVALID\]/);
  } finally {
    invalid.done();
  }
});

test("lint: 0 when clean or with warnings, 2 with --strict and warnings, 1 when invalid", async () => {
  const clean = await cli("lint", POLICY);
  assert.equal(clean.code, 0);
  assert.equal(clean.out, `${POLICY}: ok\n`);
  const warn = tempFile("p.yaml", "services:\n  svc:\n    allow:\n      - from: [spiffe://a.org/*, spiffe://a.org/x]\n");
  try {
    const r = await cli("lint", warn.path);
    assert.equal(r.code, 0);
    assert.match(r.err, /p\.yaml:4:34: warning: svc:allow-0: caller "spiffe:\/\/a\.org\/x" is already covered/);
    assert.match(r.out, /1 warning\n$/);
    assert.equal((await cli("lint", warn.path, "--strict")).code, 2);
  } finally {
    warn.done();
  }
  assert.equal((await cli("lint", join(root, "src/authz/testdata/invalid-policy.yaml"))).code, 1);
});
