import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SpindleError } from "../../common/errors.js";
import { loadAgentConfig } from "./agent-config.js";

const CONF = fileURLToPath(new URL("../../../conf/", import.meta.url));
const cwd = "/work";
const dir = mkdtempSync(join(tmpdir(), "spindle-agent-conf-"));
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

const TOKEN = "abcdefghijklmnopqrstuvwxyz012345";

test("conf/agent.yaml loads with defaults", () => {
  const c = loadAgentConfig({ configFile: join(CONF, "agent.yaml"), flags: {}, env: { SPINDLE_JOIN_TOKEN: TOKEN }, cwd, uid: 0 });
  assert.equal(c.trustDomain, "example.org");
  assert.deepEqual(c.serverAddresses, ["spindle-server.internal:8081"]);
  assert.equal(c.socketPath, "/run/spindle/agent/public/api.sock");
  assert.equal(c.adminSocket, "/run/spindle/agent/private/admin.sock");
  const user = loadAgentConfig({ configFile: join(CONF, "agent.yaml"), flags: {}, env: { SPINDLE_JOIN_TOKEN: TOKEN, XDG_RUNTIME_DIR: "/run/user/1000" }, cwd, uid: 1000 });
  assert.equal(user.socketPath, "/run/user/1000/spindle/agent/public/api.sock", "a non-root agent defaults to its runtime directory");
  assert.equal(user.adminSocket, "/run/user/1000/spindle/agent/private/admin.sock");
  assert.equal(c.dataDir, "/var/lib/spindle/agent");
  assert.equal(c.trustBundlePath, "/etc/spindle/bundle.pem");
  assert.equal(c.insecureBootstrap, false);
  assert.deepEqual(c.nodeAttestor, { name: "join_token", config: { token: TOKEN } });
  assert.deepEqual(c.unixAttestor, { discoverWorkloadPath: true, workloadSizeLimit: 64 * 1024 * 1024 });
  assert.equal(c.k8sAttestor, undefined, "k8s runs only when configured");
  assert.equal(c.dockerAttestor, undefined, "docker runs only when configured");
  assert.equal(c.authzPolicyPath, undefined);
  assert.deepEqual(c.healthAddress, { host: "127.0.0.1", port: 8088 });
  assert.equal(c.syncIntervalMs, 5000);
  assert.equal(c.identityLogWindowMs, 60_000);
  assert.equal(c.workloadKeyType, "ec-p256");
  assert.deepEqual(c.sds, { defaultSvid: "default", ownBundle: "ROOTCA", allBundles: "ALL", spiffeValidator: true });
  assert.ok(Object.isFrozen(c));
  assert.deepEqual(problemsOf(() => loadAgentConfig({ configFile: join(CONF, "agent.yaml"), flags: {}, env: {}, cwd })), [
    "node_attestor.join_token.token: environment variable SPINDLE_JOIN_TOKEN is not set",
    "node_attestor.join_token.token: must be a non-empty string",
  ]);
});

test("conf/agent-full.yaml sets every key", () => {
  const c = loadAgentConfig({ configFile: join(CONF, "agent-full.yaml"), flags: {}, env: {}, cwd });
  assert.deepEqual(c.serverAddresses, ["spindle-server-1.internal:8081", "spindle-server-2.internal:8081"]);
  assert.deepEqual(c.nodeAttestor, {
    name: "x509pop",
    config: { certificatePath: "/etc/spindle/node.crt", privateKeyPath: "/etc/spindle/node.key", intermediatesPath: "/etc/spindle/node-intermediates.crt" },
  });
  assert.equal(c.authzPolicyPath, "/etc/spindle/policy.yaml");
  assert.equal(c.authzFilter, "http");
  assert.deepEqual(c.unixAttestor, { discoverWorkloadPath: true, workloadSizeLimit: 67108864 });
  assert.deepEqual(c.k8sAttestor, {
    kubeletUrl: "https://127.0.0.1:10250",
    kubeletCaPath: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    kubeletServerName: "node-1",
    skipKubeletVerification: false,
    tokenPath: "/var/run/secrets/kubernetes.io/serviceaccount/token",
    podCacheTtlMs: 1000,
    retryDelayMs: 500,
    requestTimeoutMs: 5000,
  });
  assert.deepEqual(c.dockerAttestor, { socketPath: "/var/run/docker.sock", envVars: ["APP_ENV"], requestTimeoutMs: 5000 });
  assert.equal(c.logLevel, "info");
  assert.equal(c.identityLogWindowMs, 300_000);
});

test("flags override the file; --join-token replaces the node attestor", () => {
  const c = loadAgentConfig({
    configFile: join(CONF, "agent-full.yaml"),
    flags: {
      serverAddress: ["a:1", "[::1]:2"],
      trustDomain: "other.org",
      socketPath: "rel/api.sock",
      joinToken: TOKEN,
      trustBundle: "b.pem",
      dataDir: "data",
      adminSocket: "/run/a/admin.sock",
      authzPolicy: "p.yaml",
      logLevel: "debug",
    },
    env: {},
    cwd,
  });
  assert.equal(c.trustDomain, "other.org");
  assert.deepEqual(c.serverAddresses, ["a:1", "[::1]:2"]);
  assert.equal(c.socketPath, "/work/rel/api.sock");
  assert.deepEqual(c.nodeAttestor, { name: "join_token", config: { token: TOKEN } });
  assert.equal(c.trustBundlePath, "/work/b.pem");
  assert.equal(c.dataDir, "/work/data");
  assert.equal(c.adminSocket, "/run/a/admin.sock");
  assert.equal(c.authzPolicyPath, "/work/p.yaml");
  assert.equal(c.logLevel, "debug");
});

test("unknown keys and bad values are all reported with their paths", () => {
  const file = join(dir, "bad.yaml");
  writeFileSync(
    file,
    [
      "trust_domain: Bad_Domain",
      "server_addresses: [nohost]",
      "socket_path: relative.sock",
      "colour: blue",
      "sync_interval: soon",
      "identity_log_window: often",
      "workload_key_type: dsa",
      "sds: {default_svid_name: x, extra: 1}",
      "node_attestor:",
      "  join_token: {token: short!, tokne: x}",
      "workload_attestors:",
      "  unix: {discover_workload_path: maybe}",
      "  docker: {env_vars: [A=B]}",
      "  k8s: {kubelet_url: ftp://x}",
      "  cri: {}",
    ].join("\n"),
  );
  const problems = problemsOf(() => loadAgentConfig({ configFile: file, flags: {}, env: {}, cwd }));
  const at = (prefix: string) => assert.ok(problems.some((p) => p.startsWith(prefix)), `no problem at ${prefix} in:\n${problems.join("\n")}`);
  at("trust_domain:");
  at("server_addresses.0:");
  at("socket_path:");
  at("colour: unknown key");
  at("sync_interval:");
  at("identity_log_window:");
  at("workload_key_type:");
  at("sds.extra: unknown key");
  at("node_attestor.join_token.tokne: unknown key");
  at("workload_attestors.cri: unknown key");
  at("workload_attestors.docker.env_vars.0:");
  at("workload_attestors.k8s.kubelet_url:");
  at("workload_attestors.unix.discover_workload_path:");
});

test("required keys, exactly one node attestor, insecure bootstrap contradicting a bundle", () => {
  assert.deepEqual(problemsOf(() => loadAgentConfig({ flags: {}, env: {}, cwd })).sort(), [
    "node_attestor: is required: one of join_token, x509pop, k8s_psat with its settings",
    "server_addresses: is required: a list of host:port",
    "trust_domain: is required",
  ]);
  const file = join(dir, "two.yaml");
  writeFileSync(file, "trust_domain: example.org\nserver_addresses: [s:1]\nnode_attestor: {join_token: {token: x}, k8s_psat: {cluster: c}}\n");
  assert.deepEqual(problemsOf(() => loadAgentConfig({ configFile: file, flags: {}, env: {}, cwd })), ["node_attestor: must name exactly one node attestor"]);
  const unknown = join(dir, "unknown.yaml");
  writeFileSync(unknown, "trust_domain: example.org\nserver_addresses: [s:1]\nnode_attestor: {tpm: {}}\n");
  assert.deepEqual(problemsOf(() => loadAgentConfig({ configFile: unknown, flags: {}, env: {}, cwd })), ["node_attestor.tpm: unknown node attestor (known: join_token, x509pop, k8s_psat)"]);
  assert.match(
    problemsOf(() => loadAgentConfig({ flags: { trustDomain: "example.org", serverAddress: ["s:1"], joinToken: TOKEN, trustBundle: "b.pem", insecureBootstrap: true }, env: {}, cwd }))[0]!,
    /^insecure_bootstrap: contradicts trust_bundle/,
  );
});

test("k8s and docker: a present block enables the attestor with its defaults", () => {
  const file = join(dir, "containers.yaml");
  writeFileSync(file, ["trust_domain: example.org", "server_addresses: [s:1]", "node_attestor:", `  join_token: {token: ${TOKEN}}`, "workload_attestors:", "  k8s:", "  docker: {}"].join("\n"));
  const c = loadAgentConfig({ configFile: file, flags: {}, env: {}, cwd });
  assert.equal(c.k8sAttestor?.kubeletUrl, "https://127.0.0.1:10250");
  assert.equal(c.dockerAttestor?.socketPath, "/var/run/docker.sock");
});
