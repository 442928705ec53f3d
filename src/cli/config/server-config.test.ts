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
  assert.deepEqual(c.federation, {
    bundleEndpoint: {
      address: { host: "0.0.0.0", port: 8443 },
      refreshHintSeconds: 300,
      profile: { kind: "https_web", certFile: "/etc/spindle/bundle-endpoint.crt", keyFile: "/etc/spindle/bundle-endpoint.key" },
    },
  });
  assert.deepEqual(
    c.federatesWith?.map((r) => r.relationship),
    [{ trustDomain: "partner.example", bundleEndpointUrl: "https://bundles.partner.example/", profile: "https_web", endpointSpiffeId: "", caFile: "", source: "config" }],
  );
  assert.deepEqual(c.federationTiming, { minIntervalMs: 30_000 });
  assert.deepEqual(c.nodeAttestors, { join_token: {} });
  assert.equal(c.peerRefreshIntervalSeconds, 5);
  assert.deepEqual(c.agentApi, { attestationsPerSecond: 1, signingsPerSecond: 500, agentSvidTtlSeconds: 3600 });
  assert.equal(c.jwtKeyType, "rsa-2048");
  assert.deepEqual(c.oidc, {
    address: { host: "0.0.0.0", port: 8443 },
    tls: { certFile: "/etc/spindle/oidc.crt", keyFile: "/etc/spindle/oidc.key" },
    insecureHttp: false,
    issuer: "https://oidc.example.org",
    pathPrefix: "/",
    setKeyUse: true,
    domains: ["oidc.example.org"],
  });
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
  // The YAML parses but cannot become a value: an alias to no anchor, an alias bomb.
  writeFileSync(file, "trust_domain: *nowhere\n");
  assert.throws(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }), (e) => SpindleError.is(e, "ERR_CONFIG_READ") && /alias/.test(e.message));
  writeFileSync(file, `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`).join("\n")}\n`);
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

function withOidc(extra: string): string {
  const f = join(dir, `oidc-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, `trust_domain: example.org\n${extra}`);
  return f;
}

test("JWT keys default to rsa-2048 (RS256); oidc is off by default", () => {
  const c = loadServerConfig({ configFile: join(CONF, "server.yaml"), flags: {}, env: {}, cwd });
  assert.equal(c.jwtKeyType, "rsa-2048");
  assert.equal(c.oidc, undefined);
});

test("oidc: issuer defaults to jwt_issuer, path_prefix to its path, domains to its host; relative files resolve from cwd", () => {
  const f = withOidc("jwt_issuer: https://id.example.org/td/\noidc:\n  cert_file: tls/oidc.crt\n  key_file: tls/oidc.key\n");
  const c = loadServerConfig({ configFile: f, flags: {}, env: {}, cwd });
  assert.deepEqual(c.oidc, {
    address: { host: "0.0.0.0", port: 8443 },
    tls: { certFile: "/work/tls/oidc.crt", keyFile: "/work/tls/oidc.key" },
    insecureHttp: false,
    issuer: "https://id.example.org/td/",
    pathPrefix: "/td/",
    setKeyUse: false,
    domains: ["id.example.org"],
  });
  const insecure = loadServerConfig({ configFile: withOidc("jwt_issuer: https://id.example.org\noidc:\n  insecure_http: true\n  address: 127.0.0.1:8089\n"), flags: {}, env: {}, cwd });
  assert.equal(insecure.oidc?.tls, undefined);
  assert.equal(insecure.oidc?.insecureHttp, true);
});

test("oidc: an issuer that differs from jwt_issuer (or no jwt_issuer) is refused with both values", () => {
  const mismatch = problemsOf(() =>
    loadServerConfig({ configFile: withOidc("jwt_issuer: https://a.example.org\noidc:\n  issuer: https://a.example.org/\n  insecure_http: true\n"), flags: {}, env: {}, cwd }),
  );
  assert.equal(mismatch.length, 1);
  assert.match(mismatch[0]!, /^oidc\.issuer: "https:\/\/a\.example\.org\/" differs from jwt_issuer "https:\/\/a\.example\.org"/);
  const noJwtIssuer = problemsOf(() => loadServerConfig({ configFile: withOidc("oidc:\n  issuer: https://a.example.org\n  insecure_http: true\n"), flags: {}, env: {}, cwd }));
  assert.match(noJwtIssuer.join("\n"), /^jwt_issuer: is unset but oidc\.issuer/m);
  const none = problemsOf(() => loadServerConfig({ configFile: withOidc("oidc:\n  insecure_http: true\n"), flags: {}, env: {}, cwd }));
  assert.match(none.join("\n"), /^oidc\.issuer: is required/m);
});

test("oidc: every problem at once, each with its path", () => {
  const problems = problemsOf(() =>
    loadServerConfig({
      configFile: withOidc(
        "jwt_issuer: http://a.example.org?x=1\noidc:\n  cert_file: a.crt\n  insecure_http: true\n  domains: ['bad host', 'ok.example.org:443']\n  path_prefix: relative\n  set_key_use: yes-please\n  colour: blue\n",
      ),
      flags: {},
      env: {},
      cwd,
    }),
  );
  const text = problems.join("\n");
  for (const path of ["oidc.domains.0", "oidc.domains.1", "oidc.path_prefix", "oidc.set_key_use", "oidc.colour"]) {
    assert.ok(problems.some((p) => p.startsWith(`${path}:`)), `${path} in ${text}`);
  }
  const cross = problemsOf(() =>
    loadServerConfig({ configFile: withOidc("jwt_issuer: http://a.example.org/?x=1\noidc:\n  cert_file: a.crt\n  insecure_http: true\n"), flags: {}, env: {}, cwd }),
  );
  assert.deepEqual(cross, [
    'oidc.issuer: "http://a.example.org/?x=1" must be an https URL (relying parties fetch the discovery document from it)',
    'oidc.issuer: "http://a.example.org/?x=1" must have no query, fragment or user info',
    "oidc: set either cert_file and key_file, or insecure_http: true, not both",
  ]);
  const noTls = problemsOf(() => loadServerConfig({ configFile: withOidc("jwt_issuer: https://a.example.org\noidc:\n  key_file: a.key\n"), flags: {}, env: {}, cwd }));
  assert.deepEqual(noTls, ["oidc: cert_file and key_file are both required (or insecure_http: true behind a TLS-terminating proxy)"]);
});

test("federation.bundle_endpoint: off by default; https_spiffe by default with a 5m hint; https_web needs its files", () => {
  const plain = loadServerConfig({ configFile: join(CONF, "server.yaml"), flags: {}, env: {}, cwd });
  assert.equal(plain.federation, undefined, "no bundle endpoint unless configured");
  const file = join(dir, "fed.yaml");
  writeFileSync(file, ["trust_domain: example.org", "federation:", "  bundle_endpoint:", "    address: 0.0.0.0:8443", ""].join("\n"));
  const c = loadServerConfig({ configFile: file, flags: {}, env: {}, cwd });
  assert.deepEqual(c.federation, { bundleEndpoint: { address: { host: "0.0.0.0", port: 8443 }, refreshHintSeconds: 300, profile: { kind: "https_spiffe" } } });
  assert.equal(c.bundleRefreshHintSeconds, 300);
  assert.equal(c.configWarnings, undefined);

  writeFileSync(file, ["trust_domain: example.org", "federation:", "  bundle_endpoint:", "    address: 127.0.0.1:8443", "    profile: https_web", "    cert_file: certs/web.crt", "    key_file: /etc/web.key", "    refresh_hint: 10m", ""].join("\n"));
  const web = loadServerConfig({ configFile: file, flags: {}, env: {}, cwd });
  assert.deepEqual(web.federation?.bundleEndpoint?.profile, { kind: "https_web", certFile: "/work/certs/web.crt", keyFile: "/etc/web.key" });
  assert.equal(web.bundleRefreshHintSeconds, 600, "the endpoint's hint is the hint of every published bundle");

  writeFileSync(
    file,
    ["trust_domain: example.org", "bundle_refresh_hint: 1m", "federation:", "  bundle_endpoint:", "    profile: https_web", "    refresh_hint: 2m", "    port: 1", "  bundle_endpoint_url: x", ""].join("\n"),
  );
  assert.deepEqual(problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd })).sort(), [
    "federation.bundle_endpoint.address: is required (host:port to listen on)",
    "federation.bundle_endpoint.port: unknown key",
    "federation.bundle_endpoint_url: unknown key",
  ]);
  writeFileSync(file, ["trust_domain: example.org", "bundle_refresh_hint: 1m", "federation:", "  bundle_endpoint:", "    address: localhost:8443", "    profile: https_web", "    refresh_hint: 2m", ""].join("\n"));
  assert.deepEqual(problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd })).sort(), [
    "bundle_refresh_hint: differs from federation.bundle_endpoint.refresh_hint; set only federation.bundle_endpoint.refresh_hint (it is the hint of every published bundle)",
    "federation.bundle_endpoint.cert_file: is required with profile https_web",
    "federation.bundle_endpoint.key_file: is required with profile https_web",
  ]);
  writeFileSync(file, ["trust_domain: example.org", "federation:", "  bundle_endpoint:", "    address: localhost:8443", "    profile: https_ftp", "    cert_file: a.crt", ""].join("\n"));
  const bad = problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }));
  assert.equal(bad.length, 1, bad.join("\n"));
  assert.match(bad[0]!, /^federation\.bundle_endpoint\.profile: .*https_spiffe.*https_web/);
  writeFileSync(file, ["trust_domain: example.org", "federation:", "  bundle_endpoint:", "    address: localhost:8443", "    cert_file: a.crt", ""].join("\n"));
  assert.deepEqual(problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd })), [
    "federation.bundle_endpoint.cert_file: only with profile https_web (https_spiffe presents the server's own X509-SVID)",
  ]);
});

test("refresh_hint: warned below 1m and above 24h; 3 hints must fit between the prepare and activation points of ca_ttl", () => {
  const file = join(dir, "hint.yaml");
  const endpoint = (hint: string, caTtl = "24h") =>
    ["trust_domain: example.org", `ca_ttl: ${caTtl}`, "x509_svid_ttl: 5m", "jwt_svid_ttl: 5m", "federation:", "  bundle_endpoint:", "    address: 127.0.0.1:0", `    refresh_hint: ${hint}`, ""].join("\n");
  writeFileSync(file, endpoint("30s"));
  assert.deepEqual(loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }).configWarnings, ["federation.bundle_endpoint.refresh_hint: 30s is below 1m; every peer polls this often"]);
  writeFileSync(file, endpoint("25h", "30d"));
  assert.deepEqual(loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }).configWarnings, ["federation.bundle_endpoint.refresh_hint: 1d1h is above 24h; peers learn of new authorities this late"]);
  writeFileSync(file, endpoint("5m"));
  assert.equal(loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }).configWarnings, undefined, "24h CA, 5m hint: 8h between the points, 15m5s needed");

  // ca_ttl 1h: 20m between prepare (30m before expiry) and activation (10m before expiry).
  writeFileSync(file, endpoint("6m", "1h"));
  assert.equal(loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }).configWarnings, undefined, "3 x 6m + 5s = 18m5s fits in 20m");
  writeFileSync(file, endpoint("7m", "1h"));
  assert.deepEqual(problemsOf(() => loadServerConfig({ configFile: file, flags: {}, env: {}, cwd })), [
    "federation.bundle_endpoint.refresh_hint: 3 x 7m (+ peer_refresh_interval 5s) = 21m5s exceeds the 20m between preparing and activating an authority (ca_ttl 1h: prepared at ca_ttl / 2 before expiry, activated at ca_ttl / 6); raise ca_ttl to at least 1h3m15s or lower the refresh hint",
  ]);
  // Without a bundle endpoint the bundle still carries the hint (copied by hand): a warning only.
  writeFileSync(file, ["trust_domain: example.org", "ca_ttl: 1h", "x509_svid_ttl: 5m", "jwt_svid_ttl: 5m", "bundle_refresh_hint: 7m", ""].join("\n"));
  const warned = loadServerConfig({ configFile: file, flags: {}, env: {}, cwd }).configWarnings ?? [];
  assert.equal(warned.length, 1);
  assert.match(warned[0]!, /^bundle_refresh_hint: 3 x 7m .* exceeds the 20m .*\(no bundle endpoint is configured; rotation still waits for the lead/);
});
