import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SpindleError } from "../../common/errors.js";
import { loadServerConfig } from "./server-config.js";
import { parseDurationSeconds } from "./duration.js";

const CONF = fileURLToPath(new URL("../../../conf/", import.meta.url));
const cwd = "/work";
const dir = mkdtempSync(join(tmpdir(), "spindle-conf-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(SpindleError.is(err, "ERR_CONFIG_INVALID"), String(err));
    return err.details.problems as string[];
  }
  assert.fail("expected ERR_CONFIG_INVALID");
}

test("conf/server.yaml loads with defaults", () => {
  const c = loadServerConfig({ configFile: join(CONF, "server.yaml"), flags: {}, env: {}, cwd, uid: 0 });
  assert.equal(c.trustDomain, "example.org");
  assert.deepEqual(c.datastore, { kind: "sqlite", path: "/var/lib/spindle/server/datastore.sqlite3" });
  assert.equal(c.adminSocket, "/run/spindle/server/private/admin.sock");
  const user = loadServerConfig({ configFile: join(CONF, "server.yaml"), flags: {}, env: {}, cwd, uid: 1000 });
  assert.equal(user.adminSocket, "/tmp/spindle-1000/server/private/admin.sock", "no XDG_RUNTIME_DIR: the per-uid directory under /tmp");
  assert.equal(c.caTtlSeconds, 86400);
  assert.equal(c.x509SvidTtlSeconds, 3600);
  assert.equal(c.jwtSvidTtlSeconds, 300);
  assert.equal(c.keyManager, "disk");
  assert.deepEqual(c.bindAddress, { host: "0.0.0.0", port: 8081 });
  assert.deepEqual(c.healthAddress, { host: "127.0.0.1", port: 8080 });
  assert.equal(c.metricsAddress, undefined);
  assert.equal(c.peerRefreshIntervalSeconds, 5);
  assert.equal(c.agentApi, undefined, "the agent API's own defaults apply");
  assert.ok(Object.isFrozen(c));
});

test("conf/server-full.yaml sets every key and expands ${ENV}", () => {
  const c = loadServerConfig({ configFile: join(CONF, "server-full.yaml"), flags: {}, env: { SPINDLE_DB_PASSWORD: "s3cret" }, cwd });
  assert.deepEqual(c.datastore, { kind: "postgres", url: "postgres://spindle:s3cret@db.internal:5432/spindle?sslmode=require" });
  assert.equal(c.serverId, "spindle-server-1");
  assert.equal(c.jwtIssuer, "https://oidc.example.org");
  assert.deepEqual(c.upstreamAuthority, { certFile: "/etc/spindle/upstream-ca.crt", keyFile: "/etc/spindle/upstream-ca.key", bundleFile: "/etc/spindle/upstream-bundle.crt" });
  assert.deepEqual(c.metricsAddress, { host: "127.0.0.1", port: 9988 });
  assert.equal(c.bundleRefreshHintSeconds, 300);
  assert.deepEqual(c.nodeAttestors, { join_token: {} });
  assert.equal(c.peerRefreshIntervalSeconds, 5);
  assert.deepEqual(c.agentApi, { attestationsPerSecond: 1, signingsPerSecond: 500, agentSvidTtlSeconds: 3600 });
  const missing = problemsOf(() => loadServerConfig({ configFile: join(CONF, "server-full.yaml"), flags: {}, env: {}, cwd }));
  assert.deepEqual(missing, ["datastore: environment variable SPINDLE_DB_PASSWORD is not set"]);
});

test("flags override the file", () => {
  const c = loadServerConfig({
    configFile: join(CONF, "server.yaml"),
    flags: { trustDomain: "other.org", dataDir: "rel/data", bind: "[::1]:9000", adminSocket: "/run/s/admin.sock", datastore: "postgres://u@h/db" },
    env: {},
    cwd,
  });
  assert.equal(c.trustDomain, "other.org");
  assert.equal(c.dataDir, "/work/rel/data");
  assert.deepEqual(c.bindAddress, { host: "::1", port: 9000 });
  assert.equal(c.adminSocket, "/run/s/admin.sock");
  assert.equal(c.datastore.kind, "postgres");
});

test("every unknown key and invalid value is reported at once with its path", () => {
  const file = join(dir, "bad.yaml");
  writeFileSync(
    file,
    [
      "trust_domain: Example.ORG",
      "ca_ttl: forever",
      "x509_svid_ttl: 2h",
      "key_manager: vault",
      "bind_address: nowhere",
      "admin_socket: relative.sock",
      "colour: blue",
      "upstream_authority:",
      "  cert_file: a.crt",
      "  keyfile: a.key",
      "",
    ].join("\n"),
  );
  const problems = problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }));
  const paths = problems.map((p) => p.split(":")[0]).sort();
  assert.deepEqual(paths, ["admin_socket", "bind_address", "ca_ttl", "colour", "key_manager", "trust_domain", "upstream_authority.key_file", "upstream_authority.keyfile"], problems.join("\n"));
  assert.ok(problems.includes("colour: unknown key"));
});

test("SVID TTLs above ca_ttl / 6, bad datastores and YAML errors are refused", () => {
  const file = join(dir, "ttl.yaml");
  writeFileSync(file, "trust_domain: example.org\nca_ttl: 6h\nx509_svid_ttl: 2h\njwt_svid_ttl: 90m\n");
  assert.deepEqual(problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd })), [
    "x509_svid_ttl: 7200s exceeds ca_ttl / 6 = 3600s",
    "jwt_svid_ttl: 5400s exceeds ca_ttl / 6 = 3600s",
  ]);
  assert.deepEqual(problemsOf(() => loadServerConfig({ flags: { trustDomain: "example.org", datastore: "sqlite:" }, env: {}, cwd })), [
    'datastore: datastore "sqlite:" names no SQLite file',
  ]);
  assert.deepEqual(problemsOf(() => loadServerConfig({ flags: {}, env: {}, cwd })), ["trust_domain: is required"]);
  writeFileSync(file, "trust_domain: [\n");
  assert.throws(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }), (e) => SpindleError.is(e, "ERR_CONFIG_READ"));
  assert.throws(() => loadServerConfig({ configFile: join(dir, "missing.yaml"), flags: {}, env: {}, cwd }), /cannot read config file .*missing\.yaml/);
  const ok = loadServerConfig({ flags: { trustDomain: "example.org", dataDir: "/d" }, env: {}, cwd });
  assert.deepEqual(ok.datastore, { kind: "sqlite", path: "/d/datastore.sqlite3" });
  assert.equal(parseDurationSeconds("1h30m"), 5400);
  assert.equal(parseDurationSeconds("7d"), 604800);
  assert.equal(parseDurationSeconds("5x"), undefined);
});

test("agent_api: positive rates, agent_svid_ttl at most ca_ttl / 6, unknown keys refused", () => {
  const file = join(dir, "agent-api.yaml");
  writeFileSync(
    file,
    ["trust_domain: example.org", "ca_ttl: 6h", "peer_refresh_interval: 0s", "agent_api:", "  attestations_per_second: 0", "  signings_per_second: -5", "  agent_svid_ttl: 2h", "  burst: 3", ""].join("\n"),
  );
  assert.deepEqual(problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd })).sort(), [
    "agent_api.attestations_per_second: must be a positive number",
    "agent_api.burst: unknown key",
    "agent_api.signings_per_second: must be a positive number",
    'peer_refresh_interval: "0s" is not a positive duration (e.g. 90s, 5m, 1h, 7d)',
  ]);
  writeFileSync(file, ["trust_domain: example.org", "ca_ttl: 6h", "agent_api:", "  agent_svid_ttl: 2h", ""].join("\n"));
  assert.deepEqual(problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd })), ["agent_api.agent_svid_ttl: 7200s exceeds ca_ttl / 6 = 3600s"]);
  writeFileSync(file, ["trust_domain: example.org", "peer_refresh_interval: 1s", "agent_api:", "  attestations_per_second: 0.5", "  agent_svid_ttl: 30m", ""].join("\n"));
  const c = loadServerConfig({ configFile: file, flags: {}, env: {}, cwd });
  assert.equal(c.peerRefreshIntervalSeconds, 1);
  assert.deepEqual(c.agentApi, { attestationsPerSecond: 0.5, agentSvidTtlSeconds: 1800 });
});
