// The docker-compose lab (docker-compose.yml, docker/) cannot run here (no Docker engine), so this
// test checks what can be checked without one: every mounted file exists; the Envoy it starts uses
// an envoy-configs/ file whose agent socket is the mounted volume and whose SDS certificate name is
// registered by the setup job for the uid the Envoy runs as; the lab's server and agent configs
// load; the policy compiles for the web sidecar; and, as real processes on temp paths, the lab's
// server config serves docker/setup.sh, the lab's agent config attests with the token it wrote,
// and the processes of uid 1100 and 1101 get spiffe://example.org/frontend and .../web.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { loadPolicy, compilePolicy } from "../src/authz/index.js";
import { loadAgentConfig } from "../src/cli/config/agent-config.js";
import { loadServerConfig } from "../src/cli/config/server-config.js";
import { BIN, runCli, startServerProcess } from "./integration/helpers/cli-process.js";
import { startAgentProcess } from "./integration/helpers/agent-process.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const at = (p: string) => join(ROOT, p);

interface ComposeService {
  image?: string;
  user?: string;
  pid?: string;
  network_mode?: string;
  entrypoint?: string[];
  command?: string[];
  volumes?: string[];
  depends_on?: unknown;
}
const compose = parse(readFileSync(at("docker-compose.yml"), "utf8")) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
const services = compose.services;
const setupScript = readFileSync(at("docker/setup.sh"), "utf8");

function mounts(s: ComposeService): { source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    const [source, target] = v.split(":");
    return { source: source!, target: target! };
  });
}

/** `register "spiffe://$TD/web" 1101 ...` lines of docker/setup.sh: SPIFFE ID -> uid. */
function registrations(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of setupScript.matchAll(/^register "spiffe:\/\/\$TD(\/[^"]+)" (\d+)/gm)) out.set(`spiffe://example.org${m[1]}`, m[2]!);
  return out;
}

test("every bind mount exists, every named volume is declared, and every entrypoint script is in the image", () => {
  for (const [name, s] of Object.entries(services)) {
    for (const { source } of mounts(s)) {
      if (source.startsWith("./")) assert.ok(existsSync(at(source)), `${name}: ${source} does not exist`);
      else assert.ok(source in compose.volumes, `${name}: volume ${source} is not declared`);
    }
    for (const arg of [...(s.entrypoint ?? []), ...(s.command ?? [])]) {
      const m = /^\/opt\/spindle\/(docker\/\S+)$/.exec(arg);
      if (m) assert.ok(existsSync(at(m[1]!)), `${name}: ${m[1]} is not in the repository (the image copies docker/)`);
    }
  }
  // Callers of the agent socket share its pid namespace, or the agent cannot attest them.
  for (const [name, s] of Object.entries(services)) {
    if (mounts(s).some((m) => m.source === "agent-socket") && name !== "spindle-agent") assert.equal(s.pid, "service:spindle-agent", name);
  }
});

test("the Envoy sidecar: its config is envoy-configs/sidecar, its socket is the agent volume, its certificate is registered for its uid", () => {
  const envoy = services["web-envoy"]!;
  const config = mounts(envoy).find((m) => m.target === "/etc/envoy/envoy.yaml");
  assert.equal(config?.source, "./envoy-configs/sidecar/envoy.yaml");
  const text = readFileSync(at(config.source), "utf8");
  const pipe = /pipe: \{ path: (\S+) \}/.exec(text)?.[1];
  assert.ok(pipe, "the sidecar config has a pipe address");
  const socketVolume = mounts(envoy).find((m) => m.source === "agent-socket");
  assert.equal(socketVolume?.target, dirname(pipe), "the agent socket volume is mounted where the config looks for the socket");
  const agentSocket = mounts(services["spindle-agent"]!).find((m) => m.source === "agent-socket");
  assert.equal(agentSocket?.target, dirname(pipe));
  assert.equal(envoy.network_mode, "service:web", "the sidecar reaches the app on 127.0.0.1:8080");
  const certName = /tls_certificate_sds_secret_configs:\s*\n\s*- name: (\S+)/.exec(text)?.[1];
  assert.equal(certName, "spiffe://example.org/web");
  assert.equal(registrations().get(certName), envoy.user, "setup.sh registers the sidecar's SPIFFE ID for the uid it runs as");
  assert.equal(registrations().get("spiffe://example.org/frontend"), services.frontend!.user);
});

test("the lab's server and agent configs load, and the policy compiles for the web sidecar", () => {
  const server = loadServerConfig({ configFile: at("docker/server.yaml"), flags: {}, env: {}, cwd: ROOT });
  assert.equal(server.trustDomain, "example.org");
  assert.equal(server.bindAddress.port, 8081);
  assert.equal(server.adminSocket, "/run/spindle-server/admin.sock");
  assert.ok(mounts(services["spindle-server"]!).some((m) => m.target === dirname(server.adminSocket)));
  const agent = loadAgentConfig({ configFile: at("docker/agent.yaml"), flags: {}, env: { SPINDLE_JOIN_TOKEN: "a".repeat(32) }, cwd: ROOT });
  assert.deepEqual(agent.serverAddresses, ["spindle-server:8081"]);
  assert.equal(dirname(agent.socketPath), mounts(services["spindle-agent"]!).find((m) => m.source === "agent-socket")?.target);
  const { policy, problems } = loadPolicy(readFileSync(at("docker/policy.yaml"), "utf8"), "docker/policy.yaml");
  assert.deepEqual(problems, []);
  assert.equal(compilePolicy(policy!, { filter: "http", service: "spiffe://example.org/web" }).filters.length, 2);
});

test("lab flow with real processes: setup.sh against the lab server config, the lab agent config attests, uids 1100/1101 get their IDs", async (t) => {
  if (process.getuid!() !== 0 && process.env.CI !== "true") return t.skip("spawning other uids needs root (CI runs as root)");
  const dir = mkdtempSync(join(tmpdir(), "spindle-lab-"));
  chmodSync(dir, 0o755);
  // One cleanup, in order (t.after hooks run in registration order): agent, server, then files.
  const stops: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // The lab files, with only the fixed health ports freed (suites run in parallel).
  writeFileSync(join(dir, "server.yaml"), readFileSync(at("docker/server.yaml"), "utf8") + "\nhealth_address: 127.0.0.1:0\n");
  writeFileSync(join(dir, "agent.yaml"), readFileSync(at("docker/agent.yaml"), "utf8") + "\nhealth_address: 127.0.0.1:0\n");
  const adminSocket = join(dir, "server-admin", "admin.sock");
  const port = await new Promise<number>((resolve) => {
    const probe = createNetServer().listen(0, "127.0.0.1", () => {
      const p = (probe.address() as { port: number }).port;
      probe.close(() => resolve(p));
    });
  });
  const server = await startServerProcess(["--config", join(dir, "server.yaml"), "--data-dir", join(dir, "server-data"), "--bind", `127.0.0.1:${port}`, "--admin-socket", adminSocket]);
  stops.push(() => server.stop());

  const out = join(dir, "lab");
  const setup = await new Promise<{ code: number | null; text: string }>((resolve) => {
    const child = spawn("/bin/sh", [at("docker/setup.sh")], { env: { ...process.env, SPINDLE: `${process.execPath} ${BIN}`, ADMIN_SOCKET: adminSocket, OUT: out }, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (text += d.toString()));
    child.on("close", (code) => resolve({ code, text }));
  });
  assert.equal(setup.code, 0, setup.text);
  assert.match(setup.text, /setup: done/);
  assert.equal(statSync(join(out, "join-token")).mode & 0o777, 0o600, "the join token is readable by root only");
  const bundle = readFileSync(join(out, "bundle.pem"), "utf8");
  assert.match(bundle, /BEGIN CERTIFICATE/);
  const shown = await runCli(["entry", "show", "--admin-socket", adminSocket, "--output", "json"]);
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, /spiffe:\/\/example\.org\/web/);

  const publicSocket = join(dir, "agent-socket", "api.sock");
  const agent = await startAgentProcess(
    ["--config", join(dir, "agent.yaml"), "--server-address", `127.0.0.1:${port}`, "--trust-bundle", join(out, "bundle.pem"), "--socket-path", publicSocket, "--data-dir", join(dir, "agent-data"), "--admin-socket", join(dir, "agent-admin", "admin.sock"), "--authz-policy", at("docker/policy.yaml")],
    { SPINDLE_JOIN_TOKEN: readFileSync(join(out, "join-token"), "utf8") },
  );
  stops.push(() => agent.stop());

  for (const [id, uid] of registrations()) {
    let last = "";
    for (let i = 0; i < 40; i++) {
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, "api", "fetch", "x509", "--socket-path", publicSocket, "--output", "json"], { uid: Number(uid), gid: Number(uid), stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
      });
      last = r.stdout + r.stderr;
      if (r.code === 0) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    const fetched = JSON.parse(last) as { svids: { spiffe_id: string }[] };
    assert.deepEqual(fetched.svids.map((s) => s.spiffe_id), [id], `uid ${uid}`);
  }
});
