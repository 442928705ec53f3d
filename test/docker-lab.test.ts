// The docker-compose lab (docker-compose.yml, docker/) cannot run here (no Docker engine), so this
// test checks what can be checked without one. The compose file is loaded by compose-go, the loader
// of Docker Compose v2, and the Envoy configs the lab mounts are decoded into go-control-plane's
// types and validated with their protoc-gen-validate rules (test/docker-lab, a Go program). Then:
// every mounted file exists; each Envoy uses an envoy-configs/ file whose agent socket is the
// mounted volume and whose SDS names are registered by the setup jobs for the uid it runs as; the
// lab's server and agent configs load with the real config loader; the two servers' federation
// relationships point at each other's compose service, bundle endpoint port and server SPIFFE ID;
// the federated gateway's README names only commands, flags, keys and files that exist; the policy
// compiles for the web sidecar; and, as real processes on temp paths, the lab's two server configs
// federate through docker/bundle-init.sh (each writes its bundle for the peer), the setup jobs register the workloads, and the
// processes of uid 1100, 1101 and 1103 get their IDs, 1103 with partner.test's bundle.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { parse } from "yaml";
import { loadPolicy, compilePolicy } from "../src/authz/index.js";
import { serverSpiffeId } from "../src/ca/registration/entry.js";
import { buildProgram } from "../src/cli/program.js";
import { loadAgentConfig, type AgentConfig } from "../src/cli/config/agent-config.js";
import { loadServerConfig } from "../src/cli/config/server-config.js";
import { BIN, runCli, startServerProcess, type ServerProcess } from "./integration/helpers/cli-process.js";
import { startAgentProcess } from "./integration/helpers/agent-process.js";
import { freePort } from "./integration/helpers/ports.js";
import { encodeSpiffeBundle } from "../src/spiffe/index.js";
import { createTestBundle, createTestCa } from "./support/spiffe/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const at = (p: string) => join(ROOT, p);
const LAB_CHECK_DIR = at("test/docker-lab");
const LAB_CHECK = join(LAB_CHECK_DIR, "bin", "lab-check");

/** A service as compose-go normalises it (volumes in long syntax, bind sources absolute). */
interface ComposeService {
  image?: string;
  user?: string;
  pid?: string;
  network_mode?: string;
  entrypoint?: string[] | null;
  command?: string[] | null;
  volumes?: { type: "bind" | "volume"; source: string; target: string; read_only?: boolean }[];
  depends_on?: Record<string, { condition: string }>;
}
let services: Record<string, ComposeService>;
/** Where the lab's servers read the bootstrap bundles bundle-init.sh writes (the federation volume). */
const FEDERATION_DIR = "/run/federation";
/** A stand-in for that volume: a test bundle of each lab trust domain, for the config loader. */
const bootstrapDir = mkdtempSync(join(tmpdir(), "spindle-lab-federation-"));
for (const td of ["example.org", "partner.test"]) writeFileSync(join(bootstrapDir, `${td}.json`), encodeSpiffeBundle(createTestBundle({ cas: [createTestCa({ trustDomain: td })] })));
after(() => rmSync(bootstrapDir, { recursive: true, force: true }));

function run(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; uid?: number } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, uid: options.uid, gid: options.uid, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  const built = await run("go", ["build", "-o", LAB_CHECK, "."], { cwd: LAB_CHECK_DIR, env: { GOFLAGS: "-mod=mod -buildvcs=false" } });
  assert.equal(built.code, 0, `building test/docker-lab failed:\n${built.stderr}`);
  const loaded = await run(LAB_CHECK, ["compose", at("docker-compose.yml")]);
  assert.equal(loaded.code, 0, `compose-go refused docker-compose.yml:\n${loaded.stderr}`);
  services = (JSON.parse(loaded.stdout) as { services: Record<string, ComposeService> }).services;
});

/** Bind sources relative to the repository ("./docker/x"), volume names as they are. */
function mounts(s: ComposeService): { source: string; target: string; bind: boolean }[] {
  return (s.volumes ?? []).map((v) => ({ source: v.type === "bind" ? `./${relative(ROOT, v.source)}` : v.source, target: v.target, bind: v.type === "bind" }));
}
const mountOf = (service: string, target: string) => mounts(services[service]!).find((m) => m.target === target)?.source;

/** `register "spiffe://$TD/web" 1101 ...` lines of a setup script: SPIFFE ID -> uid and flags. */
function registrations(script: string, td: string): Map<string, { uid: string; flags: string }> {
  const out = new Map<string, { uid: string; flags: string }>();
  for (const m of readFileSync(at(script), "utf8").matchAll(/^register "spiffe:\/\/\$TD(\/[^"]+)" (\d+)([^#\n]*)/gm)) out.set(`spiffe://${td}${m[1]}`, { uid: m[2]!, flags: m[3]!.trim() });
  return out;
}
const labRegistrations = () => registrations("docker/setup.sh", "example.org");
const partnerRegistrations = () => registrations("docker/partner-setup.sh", "partner.test");

/** A server config's text loaded with the real loader, its bootstrap bundles read from bootstrapDir. */
function loadServerText(text: string, name: string): ReturnType<typeof loadServerConfig> {
  assert.ok(!text.includes(bootstrapDir));
  const file = join(bootstrapDir, `${name}.yaml`);
  writeFileSync(file, text.replaceAll(`${FEDERATION_DIR}/`, `${bootstrapDir}/`));
  return loadServerConfig({ configFile: file, flags: {}, env: {}, cwd: ROOT });
}
/** The server config a service mounts, loaded with the real loader. */
function serverConfigOf(service: string): ReturnType<typeof loadServerConfig> {
  const file = mountOf(service, "/etc/spindle/server.yaml");
  assert.ok(file, `${service} mounts a server config`);
  return loadServerText(readFileSync(at(file), "utf8"), service);
}
function agentConfigOf(service: string): AgentConfig {
  const file = mountOf(service, "/etc/spindle/agent.yaml");
  assert.ok(file, `${service} mounts an agent config`);
  return loadAgentConfig({ configFile: at(file), flags: {}, env: { SPINDLE_JOIN_TOKEN: "a".repeat(32) }, cwd: ROOT });
}
/** The services running `spindle server run`, by trust domain. */
function serversByTrustDomain(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, s] of Object.entries(services)) if ((s.command ?? [])[0] === "server") out.set(serverConfigOf(name).trustDomain, name);
  return out;
}

test("compose-go loads the lab; every bind mount exists, and every entrypoint script is in the image", () => {
  for (const s of ["bundle-init", "partner-bundle-init", "spindle-server", "partner-server", "lab-setup", "partner-setup", "spindle-agent", "partner-agent", "web", "web-envoy", "partner-gateway", "frontend", "checkout"]) {
    assert.ok(s in services, `service ${s}`);
  }
  for (const [name, s] of Object.entries(services)) {
    // compose-go already refused undeclared named volumes; bind sources it does not check.
    for (const { source, bind } of mounts(s)) if (bind) assert.ok(existsSync(at(source)), `${name}: ${source} does not exist`);
    for (const arg of [...(s.entrypoint ?? []), ...(s.command ?? [])]) {
      for (const m of arg.matchAll(/\/opt\/spindle\/(docker\/[^\s)]+)/g)) assert.ok(existsSync(at(m[1]!)), `${name}: ${m[1]} is not in the repository (the image copies docker/)`);
    }
  }
  // Callers of an agent socket share that agent's pid namespace, or the agent cannot attest them.
  for (const [socket, agent] of [["agent-socket", "spindle-agent"], ["partner-agent-socket", "partner-agent"]] as const) {
    for (const [name, s] of Object.entries(services)) {
      if (mounts(s).some((m) => m.source === socket) && name !== agent) assert.equal(s.pid, `service:${agent}`, `${name} uses ${socket}`);
    }
  }
});

test("the Envoy configs the lab mounts decode and validate with go-control-plane (ValidateAll, typed configs unpacked)", async () => {
  const files = Object.values(services).flatMap((s) => mounts(s).filter((m) => m.target === "/etc/envoy/envoy.yaml").map((m) => at(m.source)));
  assert.deepEqual(files.map((f) => relative(ROOT, f)).sort(), ["envoy-configs/federated-gateway/envoy.yaml", "envoy-configs/sidecar/envoy.yaml"]);
  const r = await run(LAB_CHECK, ["envoy", ...files]);
  assert.equal(r.code, 0, r.stderr);
  // The checker refuses what Envoy refuses, inside typed configs too.
  const bad = join(mkdtempSync(join(tmpdir(), "spindle-lab-envoy-")), "envoy.yaml");
  try {
    writeFileSync(bad, readFileSync(files[0]!, "utf8").replace(/san_type: URI/, "san_type: SAN_TYPE_UNSPECIFIED"));
    const refused = await run(LAB_CHECK, ["envoy", bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /SubjectAltNameMatcher\.SanType/);
  } finally {
    rmSync(dirname(bad), { recursive: true, force: true });
  }
});

/** The Envoy service's config text, after checking its agent socket volume matches the config's pipe. */
function envoyOf(service: string, agent: string): string {
  const envoy = services[service]!;
  const config = mountOf(service, "/etc/envoy/envoy.yaml");
  assert.ok(config !== undefined && config.startsWith("./envoy-configs/"), `${service} runs an envoy-configs/ file`);
  const text = readFileSync(at(config), "utf8");
  const pipe = /pipe: \{ path: (\S+) \}/.exec(text)?.[1];
  assert.ok(pipe, `${config} has a pipe address`);
  assert.equal(mounts(envoy).find((m) => m.source === "agent-socket")?.target, dirname(pipe), "the agent socket volume is mounted where the config looks for the socket");
  assert.equal(mounts(services[agent]!).find((m) => m.source === "agent-socket")?.target, dirname(pipe));
  assert.equal(envoy.pid, `service:${agent}`);
  return text;
}

test("the Envoy sidecar: its config is envoy-configs/sidecar, its socket is the agent volume, its certificate is registered for its uid", () => {
  const text = envoyOf("web-envoy", "spindle-agent");
  assert.equal(mountOf("web-envoy", "/etc/envoy/envoy.yaml"), "./envoy-configs/sidecar/envoy.yaml");
  assert.equal(services["web-envoy"]!.network_mode, "service:web", "the sidecar reaches the app on 127.0.0.1:8080");
  const certName = /tls_certificate_sds_secret_configs:\s*\n\s*- name: (\S+)/.exec(text)?.[1];
  assert.equal(certName, "spiffe://example.org/web");
  assert.equal(labRegistrations().get(certName)?.uid, services["web-envoy"]!.user, "setup.sh registers the sidecar's SPIFFE ID for the uid it runs as");
  assert.equal(labRegistrations().get("spiffe://example.org/frontend")?.uid, services.frontend!.user);
});

test("the federated gateway: envoy-configs/federated-gateway on the agent socket, its SDS names served, its peers registered and reachable", () => {
  const text = envoyOf("partner-gateway", "spindle-agent");
  assert.equal(mountOf("partner-gateway", "/etc/envoy/envoy.yaml"), "./envoy-configs/federated-gateway/envoy.yaml");
  const config = parse(text) as { static_resources: { clusters: { name: string; load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address?: { address: string; port_value: number } } } }[] }[] } }[] } };
  const certNames = [...text.matchAll(/tls_certificate_sds_secret_configs:\s*\n\s*- name: (\S+)/g)].map((m) => m[1]!);
  assert.deepEqual([...new Set(certNames)], ["spiffe://example.org/partner-gateway"]);
  const gw = labRegistrations().get("spiffe://example.org/partner-gateway");
  assert.equal(gw?.uid, services["partner-gateway"]!.user, "setup.sh registers the gateway's SPIFFE ID for the uid it runs as");
  // ALL and spiffe://partner.test hold partner.test's bundle only for an entry federating with it,
  // and the server only has that bundle if it federates with partner.test.
  const validation = new Set([...text.matchAll(/validation_context_sds_secret_config:\s*\n\s*name: (\S+)/g)].map((m) => m[1]!));
  assert.ok(validation.has("ALL"), "the gateway validates partner.test peers with ALL");
  assert.match(gw!.flags, /--federates-with partner\.test\b/);
  assert.deepEqual(serverConfigOf("spindle-server").federatesWith?.map((r) => r.relationship.trustDomain), ["partner.test"]);
  // The client the gateway admits is the partner's checkout, registered for the uid it runs as.
  const peers = [...text.matchAll(/matcher: \{ exact: (spiffe:\/\/\S+) \}/g)].map((m) => m[1]!);
  assert.ok(peers.includes("spiffe://partner.test/checkout"));
  const checkout = partnerRegistrations().get("spiffe://partner.test/checkout");
  assert.equal(checkout?.uid, services.checkout!.user);
  assert.match(checkout!.flags, /--federates-with example\.org\b/, "checkout needs example.org's bundle to verify the gateway");
  const checkoutScript = readFileSync(at("docker/checkout.sh"), "utf8");
  const url = /https:\/\/([a-z-]+):(\d+)\/orders\//.exec(checkoutScript);
  assert.ok(url, "checkout.sh calls the gateway's /orders/ route");
  assert.equal(url[1], "partner-gateway", "the service name");
  assert.match(gw!.flags, new RegExp(`--dns ${url[1]}\\b`), "the gateway's SVID carries the host name curl checks");
  assert.equal(url[2], String(/name: from_partner\s*\n\s*address:\s*\n\s*socket_address: \{ address: 0\.0\.0\.0, port_value: (\d+) \}/.exec(text)?.[1]));
  // /orders/ goes to the web sidecar: its host is the service, its pinned ID the sidecar's entry.
  const web = config.static_resources.clusters.find((c) => c.name === "web");
  const addr = web?.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address;
  assert.deepEqual(addr, { address: "web", port_value: 8443 });
  assert.ok("web" in services && services["web-envoy"]!.network_mode === "service:web");
  assert.ok(peers.includes("spiffe://example.org/web") && labRegistrations().has("spiffe://example.org/web"));
  // The web sidecar accepts the gateway's certificate (its inbound SAN pins) on the port the
  // cluster dials, and its policy lets the gateway through on that route.
  const sidecar = parse(readFileSync(at(mountOf("web-envoy", "/etc/envoy/envoy.yaml")!), "utf8")) as {
    static_resources: { listeners: { address: { socket_address: { port_value: number } }; filter_chains: { transport_socket?: { typed_config: { common_tls_context: { combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: { matcher: { exact?: string } }[] } } } } } }[] }[] };
  };
  const inbound = sidecar.static_resources.listeners.find((l) => l.address.socket_address?.port_value === addr!.port_value);
  const pins = inbound?.filter_chains.flatMap((c) => c.transport_socket?.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.map((m) => m.matcher.exact) ?? []);
  assert.ok(pins?.includes("spiffe://example.org/partner-gateway"), "the sidecar's inbound listener admits the gateway's SPIFFE ID");
  assert.ok(pins!.includes("spiffe://example.org/frontend"));
  const policy = parse(readFileSync(at("docker/policy.yaml"), "utf8")) as { services: Record<string, { allow: { from: string[]; paths?: string[] }[] }> };
  const rule = policy.services["spiffe://example.org/web"]?.allow.find((a) => a.from.includes("spiffe://example.org/partner-gateway"));
  assert.ok(rule, "docker/policy.yaml admits the gateway");
  assert.ok(rule.paths === undefined || rule.paths.includes("/orders/*"), "on the gateway's /orders/ route");
});

test("the lab's server and agent configs load, and each agent and relationship points at the right compose service", () => {
  const servers = serversByTrustDomain();
  assert.deepEqual([...servers].sort(), [["example.org", "spindle-server"], ["partner.test", "partner-server"]]);
  for (const [td, name] of servers) {
    const c = serverConfigOf(name);
    assert.equal(c.trustDomain, td);
    assert.equal(c.bindAddress.port, 8081);
    assert.ok(mounts(services[name]!).some((m) => m.target === dirname(c.adminSocket)), `${name}: the admin socket is in a volume`);
    const endpoint = c.federation?.bundleEndpoint;
    assert.ok(endpoint, `${name} serves a bundle endpoint`);
    assert.equal(endpoint.profile.kind, "https_spiffe");
    // Every relationship names a peer of the lab by its compose service name and bundle endpoint
    // port, with the SPIFFE ID that peer's endpoint presents (its server's own X509-SVID).
    const rels = c.federatesWith ?? [];
    assert.equal(rels.length, 1, `${name} federates with the other trust domain`);
    for (const { relationship: r } of rels) {
      const peer = servers.get(r.trustDomain);
      assert.ok(peer, `${name}: no lab server for ${r.trustDomain}`);
      const peerConfig = serverConfigOf(peer);
      const url = new URL(r.bundleEndpointUrl);
      assert.equal(url.hostname, peer, `${name}: federates_with.${r.trustDomain}.bundle_endpoint_url names the service`);
      assert.equal(Number(url.port || 443), peerConfig.federation?.bundleEndpoint?.address.port, `${name}: the port is ${peer}'s bundle endpoint port`);
      assert.equal(r.profile, peerConfig.federation?.bundleEndpoint?.profile.kind, `${name}: the profile is the one ${peer} serves`);
      assert.equal(r.endpointSpiffeId, serverSpiffeId(peerConfig.trustDomain), `${name}: the endpoint SPIFFE ID is ${peer}'s server ID`);
      assert.ok(peerConfig.federatesWith?.some((b) => b.relationship.trustDomain === td), `${peer} federates back with ${td}`);
    }
  }
  for (const [agent, td] of [["spindle-agent", "example.org"], ["partner-agent", "partner.test"]] as const) {
    const c = agentConfigOf(agent);
    assert.equal(c.trustDomain, td);
    const server = servers.get(td)!;
    assert.deepEqual(c.serverAddresses, [`${server}:${serverConfigOf(server).bindAddress.port}`]);
    assert.equal(dirname(c.socketPath), mounts(services[agent]!).find((m) => m.source.endsWith("agent-socket"))?.target);
  }
  const { policy, problems } = loadPolicy(readFileSync(at("docker/policy.yaml"), "utf8"), "docker/policy.yaml");
  assert.deepEqual(problems, []);
  assert.equal(compilePolicy(policy!, { filter: "http", service: "spiffe://example.org/web" }).filters.length, 2);
});

test("the bootstrap: each server reads the peer's bundle file that the peer's bundle-init job writes before both start", () => {
  const servers = serversByTrustDomain();
  const script = readFileSync(at("docker/bundle-init.sh"), "utf8");
  const defaults = new Map([...script.matchAll(/^(\w+)="\$\{\1:-([^}]+)\}"/gm)].map((m) => [m[1]!, m[2]!]));
  assert.match(script, /> "\$OUT\/\$td\.json\.tmp"/, "bundle-init writes $OUT/<trust domain>.json");
  const inits = Object.entries(services).filter(([, s]) => (s.entrypoint ?? []).includes("/opt/spindle/docker/bundle-init.sh"));
  assert.equal(inits.length, servers.size, "one bundle-init job per server");
  for (const [td, server] of servers) {
    const c = serverConfigOf(server);
    // The job that starts this server once: same config file, same data volume, at the paths the
    // script uses by default, and the federation volume where it writes.
    const config = mountOf(server, "/etc/spindle/server.yaml")!;
    const init = inits.find(([, s]) => mounts(s).some((m) => m.source === config));
    assert.ok(init, `a bundle-init job mounts ${config}`);
    const [initName] = init;
    assert.equal(mountOf(initName, defaults.get("CONFIG")!), config);
    const dataVolume = mounts(services[server]!).find((m) => m.target === c.dataDir)?.source;
    assert.ok(dataVolume && !dataVolume.startsWith("./"), `${server}: data_dir is a volume`);
    assert.equal(mountOf(initName, defaults.get("DATA_DIR")!), dataVolume, `${initName} creates the CA in ${server}'s data volume`);
    const federationVolume = mountOf(initName, defaults.get("OUT")!);
    assert.ok(federationVolume, `${initName} mounts its output directory`);
    // Every server waits for every bundle-init job and reads its peer's file from that volume.
    for (const [other] of inits) assert.deepEqual(services[server]!.depends_on?.[other], { condition: "service_completed_successfully", required: true }, `${server} after ${other}`);
    const raw = parse(readFileSync(at(config), "utf8")) as { federation: { federates_with: Record<string, { trust_domain_bundle_path?: string }> } };
    for (const [peerTd, r] of Object.entries(raw.federation.federates_with)) {
      assert.equal(r.trust_domain_bundle_path, `${FEDERATION_DIR}/${peerTd}.json`, `${server}: bootstrap of ${peerTd}`);
      assert.equal(mountOf(server, FEDERATION_DIR), federationVolume, `${server} mounts the volume the bundle-init jobs write`);
    }
    assert.equal(c.trustDomain, td);
    assert.equal(c.serverId, server, `${server}: a fixed server_id, the same in bundle-init's container`);
  }
  for (const [job, server] of [["lab-setup", "spindle-server"], ["partner-setup", "partner-server"]] as const) assert.equal(services[job]!.depends_on?.[server]?.condition, "service_healthy", job);
});

/** Every `--long-option` of a command and of its ancestors. */
function optionsOf(cmd: Command): Set<string> {
  const out = new Set<string>();
  for (let c: Command | null = cmd; c; c = c.parent) for (const o of c.options) if (o.long) out.add(o.long);
  return out;
}

test("envoy-configs/federated-gateway/README.md names only commands, flags, config keys and files that exist", async () => {
  const readme = readFileSync(at("envoy-configs/federated-gateway/README.md"), "utf8");
  const program = await buildProgram({ stdout: () => {}, stderr: () => {}, env: {} });
  const commands = readme.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim()).filter((l) => l.startsWith("spindle "));
  assert.ok(commands.length >= 5, "the README's commands are found");
  for (const line of commands) {
    const words = line.replace(/#.*$/, "").replace(/>.*$/, "").trim().split(/\s+/).slice(1);
    let cmd: Command = program;
    while (words.length > 0 && !words[0]!.startsWith("-")) {
      const sub = cmd.commands.find((c) => c.name() === words[0]);
      if (!sub) break;
      cmd = sub;
      words.shift();
    }
    assert.notEqual(cmd, program, `no such command: ${line}`);
    assert.equal(cmd.commands.length, 0, `not a complete command: ${line}`);
    const known = optionsOf(cmd);
    for (const w of words.filter((x) => x.startsWith("--"))) assert.ok(known.has(w), `${w} is not an option of spindle ${cmd.name()}: ${line}`);
    for (const o of cmd.options.filter((x) => x.mandatory)) assert.ok(words.includes(o.long!), `${line} lacks ${o.long}`);
  }
  // The server config snippet loads with the real loader.
  const yamlBlocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(yamlBlocks.length, 1);
  const c = loadServerText(`trust_domain: example.org\nserver_id: spindle-server\nadmin_socket: /run/spindle-server/admin.sock\n${yamlBlocks[0]}`, "readme");
  const lab = serverConfigOf("spindle-server");
  assert.deepEqual(c.federatesWith, lab.federatesWith, "the README shows the lab's relationship");
  assert.deepEqual(c.federation?.bundleEndpoint, lab.federation?.bundleEndpoint, "the README shows the lab's bundle endpoint");
  // Every linked file and every lab file it names exists, and so do the keys it names in prose.
  for (const m of readme.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)) assert.ok(existsSync(join(at("envoy-configs/federated-gateway"), m[1]!)), `link ${m[1]}`);
  for (const m of readme.matchAll(/\b((?:docker|envoy-configs|docs|conf)\/[\w./-]+\.(?:sh|yaml|md))\b/g)) assert.ok(existsSync(at(m[1]!)), m[1]);
  const keys = readFileSync(at("docs/config/server.md"), "utf8");
  for (const m of readme.matchAll(/`((?:federates_with\.[a-z.]+\.)?[a-z_]+): /g)) {
    const key = m[1]!.replace(/^federates_with\.[a-z.]+?\.(?=[a-z_]+$)/, "");
    assert.ok(keys.includes(`.${key}\``) || keys.includes(`\`${key}\``), `config key ${m[1]} is documented in docs/config/server.md`);
  }
  // The services the README names are the lab's.
  for (const m of readme.matchAll(/service `([a-z-]+)`/g)) assert.ok(m[1]! in services, `service ${m[1]}`);
});

/** Runs a setup script of the lab outside Docker, as the test's own processes. */
function runScript(script: string, env: NodeJS.ProcessEnv) {
  return run("/bin/sh", [at(script)], { env: { SPINDLE: `${process.execPath} ${BIN}`, ...env } });
}

/** Polls `api fetch x509 --output json` as `uid` until it answers. */
async function fetchAs(socket: string, uid: number): Promise<{ svids: { spiffe_id: string }[]; federated_bundles?: Record<string, string> }> {
  let last = "";
  for (let i = 0; i < 60; i++) {
    const r = await run(process.execPath, [BIN, "api", "fetch", "x509", "--socket-path", socket, "--output", "json"], { uid });
    last = r.stdout + r.stderr;
    if (r.code === 0) return JSON.parse(r.stdout) as never;
    await new Promise((res) => setTimeout(res, 250));
  }
  assert.fail(`uid ${uid}: no SVID from ${socket}: ${last}`);
}

test("lab flow with real processes: bundle-init.sh bootstraps the two lab servers, they federate, the setup jobs register, uids 1100/1101/1103 and 1104 get their IDs", async (t) => {
  if (process.getuid!() !== 0 && process.env.CI !== "true") return t.skip("spawning other uids needs root (CI runs as root)");
  const dir = mkdtempSync(join(tmpdir(), "spindle-lab-"));
  chmodSync(dir, 0o755);
  // One cleanup, in order (t.after hooks run in registration order): agent, servers, then files.
  const stops: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // The lab's server files, on loopback: the compose host names and fixed ports become free
  // 127.0.0.1 ports (https_spiffe authenticates the endpoint by SPIFFE ID, not by host name), the
  // federation volume a temp directory, and the fixed health ports are freed (suites run in parallel).
  const servers = serversByTrustDomain();
  const ports = new Map<string, { api: number; bundle: number }>();
  for (const name of servers.values()) ports.set(name, { api: await freePort(), bundle: await freePort() });
  const federationDir = join(dir, "federation");
  const admin = new Map<string, string>();
  for (const name of servers.values()) {
    let text = readFileSync(at(mountOf(name, "/etc/spindle/server.yaml")!), "utf8");
    text = text.replace(/address: 0\.0\.0\.0:8443/, `address: 127.0.0.1:${ports.get(name)!.bundle}`).replaceAll(`${FEDERATION_DIR}/`, `${federationDir}/`);
    for (const [peer, p] of ports) text = text.replace(`https://${peer}:8443/`, `https://127.0.0.1:${p.bundle}/`);
    assert.doesNotMatch(text, /:8443|\/run\/federation/, `${name}: every lab address and path was rewritten`);
    writeFileSync(join(dir, `${name}.yaml`), `${text}\nhealth_address: 127.0.0.1:0\n`);
    admin.set(name, join(dir, `${name}-admin`, "admin.sock"));
  }
  // The bootstrap jobs, both before either server starts (as compose orders them).
  for (const name of servers.values()) {
    const init = await runScript("docker/bundle-init.sh", { CONFIG: join(dir, `${name}.yaml`), DATA_DIR: join(dir, `${name}-data`), OUT: federationDir });
    assert.equal(init.code, 0, init.stdout + init.stderr);
  }
  for (const td of servers.keys()) assert.match(readFileSync(join(federationDir, `${td}.json`), "utf8"), /"x5c"/);
  const procs = new Map<string, ServerProcess>();
  for (const name of servers.values()) {
    const p = await startServerProcess(["--config", join(dir, `${name}.yaml`), "--data-dir", join(dir, `${name}-data`), "--bind", `127.0.0.1:${ports.get(name)!.api}`, "--admin-socket", admin.get(name)!]);
    stops.push(() => p.stop());
    procs.set(name, p);
  }
  const [a, b] = [servers.get("example.org")!, servers.get("partner.test")!];
  // The bundle served now is the one bundle-init wrote: the real server kept the CA it created.
  const served = await runCli(["bundle", "show", "--admin-socket", admin.get(a)!, "--format", "spiffe"]);
  assert.equal(served.status, 0, served.stderr);
  const x5c = (doc: string) => (JSON.parse(doc) as { keys: { x5c?: string[] }[] }).keys.flatMap((k) => k.x5c ?? []);
  assert.deepEqual(x5c(served.stdout), x5c(readFileSync(join(federationDir, "example.org.json"), "utf8")));

  // Each relationship fetches through the other's bundle endpoint (the README's refresh command;
  // retried while the peer that started second was not listening yet at the first attempt).
  for (const [name, peerTd] of [[a, "partner.test"], [b, "example.org"]] as const) {
    let r = await runCli(["federation", "refresh", "--trust-domain", peerTd, "--admin-socket", admin.get(name)!, "--output", "json"]);
    for (let i = 0; i < 20 && r.status !== 0; i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await runCli(["federation", "refresh", "--trust-domain", peerTd, "--admin-socket", admin.get(name)!, "--output", "json"]);
    }
    assert.equal(r.status, 0, r.stderr);
    const rel = JSON.parse(r.stdout) as { source: string; status: { lastSuccess: string; bundle: { x509Authorities: number } | null } };
    assert.equal(rel.source, "config");
    assert.notEqual(rel.status.lastSuccess, new Date(0).toISOString(), `${name}: fetched ${peerTd}'s bundle`);
    assert.ok((rel.status.bundle?.x509Authorities ?? 0) > 0, `${name}: holds ${peerTd}'s CA`);
  }

  const out = join(dir, "lab");
  const setup = await runScript("docker/setup.sh", { ADMIN_SOCKET: admin.get(a)!, OUT: out });
  assert.equal(setup.code, 0, setup.stdout + setup.stderr);
  assert.match(setup.stdout, /setup: done/);
  assert.equal(statSync(join(out, "join-token")).mode & 0o777, 0o600, "the join token is readable by root only");
  assert.match(readFileSync(join(out, "bundle.pem"), "utf8"), /BEGIN CERTIFICATE/);
  const partnerSetup = await runScript("docker/partner-setup.sh", { ADMIN_SOCKET: admin.get(b)!, OUT: join(dir, "partner-lab") });
  assert.match(partnerSetup.stdout, /partner-setup: done/);
  assert.equal(partnerSetup.code, 0, partnerSetup.stdout + partnerSetup.stderr);
  const shown = await runCli(["entry", "show", "--admin-socket", admin.get(b)!, "--output", "json"]);
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, /spiffe:\/\/partner\.test\/checkout/);

  const agentFile = at(mountOf("spindle-agent", "/etc/spindle/agent.yaml")!);
  writeFileSync(join(dir, "agent.yaml"), readFileSync(agentFile, "utf8") + "\nhealth_address: 127.0.0.1:0\n");
  const publicSocket = join(dir, "agent-socket", "api.sock");
  const agent = await startAgentProcess(
    ["--config", join(dir, "agent.yaml"), "--server-address", `127.0.0.1:${ports.get(a)!.api}`, "--trust-bundle", join(out, "bundle.pem"), "--socket-path", publicSocket, "--data-dir", join(dir, "agent-data"), "--admin-socket", join(dir, "agent-admin", "admin.sock"), "--authz-policy", at("docker/policy.yaml")],
    { SPINDLE_JOIN_TOKEN: readFileSync(join(out, "join-token"), "utf8") },
  );
  stops.push(() => agent.stop());

  // partner.test's agent: checkout's uid gets its SVID and example.org's bundle, in the file
  // docker/checkout.sh verifies the gateway with.
  const partnerOut = join(dir, "partner-lab");
  const partnerAgentFile = at(mountOf("partner-agent", "/etc/spindle/agent.yaml")!);
  writeFileSync(join(dir, "partner-agent.yaml"), readFileSync(partnerAgentFile, "utf8") + "\nhealth_address: 127.0.0.1:0\n");
  const partnerSocket = join(dir, "partner-agent-socket", "api.sock");
  const partnerAgent = await startAgentProcess(
    ["--config", join(dir, "partner-agent.yaml"), "--server-address", `127.0.0.1:${ports.get(b)!.api}`, "--trust-bundle", join(partnerOut, "bundle.pem"), "--socket-path", partnerSocket, "--data-dir", join(dir, "partner-agent-data"), "--admin-socket", join(dir, "partner-agent-admin", "admin.sock")],
    { SPINDLE_JOIN_TOKEN: readFileSync(join(partnerOut, "join-token"), "utf8") },
  );
  stops.push(() => partnerAgent.stop());
  const checkoutUid = Number(partnerRegistrations().get("spiffe://partner.test/checkout")!.uid);
  const checkout = await fetchAs(partnerSocket, checkoutUid);
  assert.deepEqual(checkout.svids.map((s) => s.spiffe_id), ["spiffe://partner.test/checkout"]);
  const written = join(dir, "checkout");
  mkdirSync(written, { mode: 0o755 });
  chownSync(written, checkoutUid, checkoutUid);
  const write = await run(process.execPath, [BIN, "api", "fetch", "x509", "--socket-path", partnerSocket, "--write", written], { uid: checkoutUid });
  assert.equal(write.code, 0, write.stderr);
  const exampleCa = readFileSync(join(federationDir, "example.org.json"), "utf8");
  const pem = readFileSync(join(written, /federated_bundle\.0\.0\.pem/.exec(readFileSync(at("docker/checkout.sh"), "utf8"))![0]), "utf8");
  for (const der of x5c(exampleCa)) assert.ok(pem.replace(/\s+/g, "").includes(der), "checkout.sh's federated_bundle.0.0.pem holds example.org's CA");

  for (const [id, { uid }] of labRegistrations()) {
    const fetched = await fetchAs(publicSocket, Number(uid));
    assert.deepEqual(fetched.svids.map((s) => s.spiffe_id), [id], `uid ${uid}`);
    // Only the gateway's entry federates: its uid alone gets partner.test's bundle (its Envoy's ALL).
    const federated = Object.keys(fetched.federated_bundles ?? {});
    assert.deepEqual(federated, id.endsWith("/partner-gateway") ? ["spiffe://partner.test"] : [], `uid ${uid}: federated bundles`);
  }
});
