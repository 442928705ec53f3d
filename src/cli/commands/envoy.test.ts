import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { runCli } from "../program.js";

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
  return { code, out, err };
}

test("envoy bootstrap prints a validated bootstrap from the flags (YAML by default, or JSON)", async () => {
  const y = await cli("envoy", "bootstrap", "--role", "sidecar", "--spiffe-id", "spiffe://example.org/web",
    "--peer-id", "spiffe://example.org/api", "--peer-id", "spiffe://example.org/admin", "--upstream", "api:8443",
    "--authz", "ecds", "--socket-path", "/run/spindle/api.sock", "--node-id", "web-1", "--cluster", "web");
  assert.equal(y.code, 0, y.err);
  const b = parse(y.out);
  assert.deepEqual(b.node, { id: "web-1", cluster: "web" });
  assert.match(y.out, /path: \/run\/spindle\/api\.sock/);
  assert.match(y.out, /exact: spiffe:\/\/example\.org\/admin/);
  assert.match(y.out, /name: spindle\.authz\.deny[\s\S]*name: spindle\.authz\.allow[\s\S]*name: envoy\.filters\.http\.router/);
  const j = await cli("envoy", "bootstrap", "--role", "gateway", "--peer-id", "spiffe://example.org/api", "--upstream", "10.1.2.3:443", "--format", "json");
  assert.equal(j.code, 0, j.err);
  assert.equal(JSON.parse(j.out).static_resources.listeners[0].name, "edge_tls");
});

test("envoy bootstrap reports every bad flag and exits 1", async () => {
  const r = await cli("envoy", "bootstrap", "--role", "gateway", "--spiffe-id", "spiffe://example.org/", "--authz", "ecds");
  assert.equal(r.code, 1);
  assert.equal(r.out, "");
  assert.match(r.err, /^error \[ERR_CONFIG_INVALID\]: invalid bootstrap options:/);
  assert.match(r.err, /--spiffe-id: .*/);
  assert.match(r.err, /--upstream: is required with --role gateway/);
  assert.match(r.err, /--authz: ecds needs an mTLS inbound listener/);
  const f = await cli("envoy", "bootstrap", "--role", "sidecar", "--peer-id", "spiffe://example.org/a", "--format", "xml");
  assert.notEqual(f.code, 0);
  assert.match(f.err, /argument 'xml' is invalid/);
});

test("envoy validate accepts a valid file and names the path of each problem in an invalid one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-envoy-"));
  try {
    const good = await cli("envoy", "bootstrap", "--role", "sidecar", "--peer-id", "spiffe://example.org/a", "--format", "json");
    writeFileSync(join(dir, "good.json"), good.out);
    const ok = await cli("envoy", "validate", join(dir, "good.json"));
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, `${join(dir, "good.json")}: valid envoy.config.bootstrap.v3.Bootstrap\n`);

    writeFileSync(join(dir, "bad.yaml"), "admin:\n  adress: {}\nstatic_resources:\n  clusters:\n  - name: c\n    connect_timeout: 5\n");
    const bad = await cli("envoy", "validate", join(dir, "bad.yaml"));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^error \[ERR_ENVOY_CONFIG_INVALID\]: .*bad\.yaml is not a valid envoy\.config\.bootstrap\.v3\.Bootstrap \(2 problems\)/);
    assert.match(bad.err, /  admin\.adress: unknown field "adress" in envoy\.config\.bootstrap\.v3\.Admin \(did you mean "address"\?\) \(line 2, column 3\)/);
    assert.match(bad.err, /  static_resources\.clusters\[0\]\.connect_timeout: invalid google\.protobuf\.Duration/);

    writeFileSync(join(dir, "rbac.yaml"), "action: DENY\npolicies: {}\n");
    const typed = await cli("envoy", "validate", "--type", "envoy.config.rbac.v3.RBAC", join(dir, "rbac.yaml"));
    assert.equal(typed.code, 0, typed.err);
    const unknownType = await cli("envoy", "validate", "--type", "envoy.config.rbac.v3.Nope", join(dir, "rbac.yaml"));
    assert.match(unknownType.err, /^error \[ERR_INVALID_ARGUMENT\]: unknown message type "envoy\.config\.rbac\.v3\.Nope"/);
    const missing = await cli("envoy", "validate", join(dir, "missing.yaml"));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^error \[ERR_CONFIG_READ\]: cannot read .*missing\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
