// The docker attestor against a fake Docker Engine API (a real HTTP server on a temp Unix socket)
// and a fake procfs giving each test pid a cgroup.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { SpindleError } from "../../../common/errors.js";
import { createLogger, createSilentLogger } from "../../../common/logger.js";
import { formatSelector } from "../../../spiffe/selector.js";
import { selectorProblem } from "../../../spiffe/selector-schema.js";
import { createDockerAttestor, parseDockerAttestorConfig } from "./index.js";

const logger = createSilentLogger();
const ID = "4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d";
const UNKNOWN = "f".repeat(64);
const CONTAINER_NS = "pid:[4026532001]";
const HOST_NS = "pid:[4026531836]";
const MAIN_PID = 500;
const IMAGE = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

describe("docker workload attestor", () => {
  let dir: string;
  let proc: string;
  let socketPath: string;
  let server: http.Server;
  const paths: string[] = [];
  let status = 200;
  let statePid = MAIN_PID;

  function addPid(pid: number, cgroup: string) {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), "stat"), `${pid} (app) S ${Array.from({ length: 18 }, () => "0").join(" ")} 6000 0\n`);
    writeFileSync(join(proc, String(pid), "cgroup"), cgroup);
  }
  /** /proc/<pid>/ns/pid: a symlink whose target names the namespace, as in procfs. */
  function setPidNamespace(pid: number, ns: string) {
    mkdirSync(join(proc, String(pid), "ns"), { recursive: true });
    rmSync(join(proc, String(pid), "ns", "pid"), { force: true });
    symlinkSync(ns, join(proc, String(pid), "ns", "pid"));
  }
  const attestorWith = (config: Record<string, unknown> = {}) => createDockerAttestor({ logger, procRoot: proc, config: { socket_path: socketPath, ...config } });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "spindle-docker-attestor-"));
    proc = join(dir, "proc");
    mkdirSync(proc);
    writeFileSync(join(proc, "stat"), `cpu 1 2\nbtime ${Math.floor(Date.now() / 1000) - 3600}\n`);
    addPid(11, `0::/system.slice/docker-${ID}.scope\n`);
    addPid(12, `12:memory:/docker/${ID}\n11:cpu,cpuacct:/docker/${ID}\n`);
    addPid(13, "0::/user.slice/user-1000.slice/session-1.scope\n");
    addPid(14, `0::/system.slice/docker-${UNKNOWN}.scope\n`);
    // 15 joined a cgroup named after the container but runs in the host's pid namespace.
    addPid(15, `0::/system.slice/docker-${ID}.scope\n`);
    setPidNamespace(15, HOST_NS);
    setPidNamespace(11, CONTAINER_NS);
    mkdirSync(join(proc, String(MAIN_PID)));
    setPidNamespace(MAIN_PID, CONTAINER_NS);
    socketPath = join(dir, "docker.sock");
    server = http.createServer((req, res) => {
      paths.push(req.url ?? "");
      if (status !== 200) {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: "daemon is sad" }));
        return;
      }
      if (req.method !== "GET" || req.url !== `/containers/${ID}/json`) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: `No such container: ${req.url}` }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          Id: ID,
          Image: IMAGE,
          Name: "/web",
          State: { Running: statePid !== 0, Pid: statePid },
          Config: {
            Image: "nginx:1.27",
            Labels: { "com.example.team": "payments", "com.docker.compose.service": "web" },
            Env: ["PATH=/usr/bin", "APP_ENV=staging", "SECRET_KEY=hunter2", "APP_ENV=prod", "EMPTY="],
          },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    paths.length = 0;
    status = 200;
    statePid = MAIN_PID;
  });

  it("labels and image id; environment variables only when opted in", async () => {
    const plain = (await attestorWith().attest(11)).map(formatSelector);
    assert.deepEqual(plain, ["docker:label:com.example.team:payments", "docker:label:com.docker.compose.service:web", `docker:image_id:${IMAGE}`]);
    assert.deepEqual(paths, [`/containers/${ID}/json`]);
    const withEnv = (await attestorWith({ env_vars: ["APP_ENV", "EMPTY", "NOT_SET"] }).attest(12)).map(formatSelector);
    const raw = await attestorWith({ env_vars: ["APP_ENV", "EMPTY", "NOT_SET"] }).attest(12);
    assert.deepEqual(raw.map(selectorProblem).filter((p) => p !== undefined), [], "every selector passes entry validation");
    // The last definition wins, as in the process; SECRET_KEY was not asked for and never appears.
    assert.ok(withEnv.includes("docker:env:APP_ENV:prod") && withEnv.includes("docker:env:EMPTY:"), withEnv.join(" "));
    assert.ok(!withEnv.some((s) => s.includes("staging") || s.includes("SECRET_KEY") || s.includes("NOT_SET") || s.includes("PATH")));
  });

  it("no container, or one this daemon does not know: no selectors, not an error", async () => {
    assert.deepEqual(await attestorWith().attest(13), []);
    assert.deepEqual(paths, [], "a host process costs no API call");
    assert.deepEqual(await attestorWith().attest(14), []);
    assert.deepEqual(paths, [`/containers/${UNKNOWN}/json`]);
  });

  it("a daemon error or a missing socket fails with a clear, retryable error", async () => {
    status = 500;
    await assert.rejects(attestorWith().attest(11), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE") && /HTTP 500/.test(e.message) && /daemon is sad/.test(e.message));
    const missing = join(dir, "nope.sock");
    await assert.rejects(attestorWith({ socket_path: missing }).attest(11), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE") && e.grpcStatus === 14 && e.message.includes(missing) && /is Docker running/.test(e.message));
  });

  it("a pid reused while the daemon answered gets nothing", async () => {
    const attestor = createDockerAttestor({
      logger,
      procRoot: proc,
      config: { socket_path: socketPath },
      inspect: async (id) => {
        writeFileSync(join(proc, "11", "stat"), `11 (other) S ${Array.from({ length: 18 }, () => "0").join(" ")} 7000 0\n`);
        return { id, imageId: IMAGE, labels: {}, env: [], pid: 0 };
      },
    });
    await assert.rejects(attestor.attest(11), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /reused/.test(e.message));
    addPid(11, `0::/system.slice/docker-${ID}.scope\n`);
  });

  it("a caller outside the container's pid namespace gets no docker selectors, and a warning", async () => {
    const lines: string[] = [];
    const attestor = createDockerAttestor({ logger: createLogger({ level: "debug", destination: { write: (l: string) => void lines.push(l) } }), procRoot: proc, config: { socket_path: socketPath } });
    assert.deepEqual(await attestor.attest(15), []);
    const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l["level"] === "warn");
    assert.ok(warning !== undefined, lines.join(""));
    assert.deepEqual([warning["pid"], warning["containerPid"], warning["pidNamespace"], warning["containerPidNamespace"]], [15, MAIN_PID, HOST_NS, CONTAINER_NS]);
    // The same caller in the container's namespace is attested.
    setPidNamespace(15, CONTAINER_NS);
    try {
      assert.ok((await attestor.attest(15)).map(formatSelector).includes(`docker:image_id:${IMAGE}`));
    } finally {
      setPidNamespace(15, HOST_NS);
    }
  });

  it("the pid namespace check is skipped when it cannot be made: State.Pid 0, links not readable", async () => {
    // 12 has no ns links in the fake procfs (as when the agent may not read them).
    assert.ok((await attestorWith().attest(12)).map(formatSelector).includes(`docker:image_id:${IMAGE}`));
    statePid = 0;
    assert.ok((await attestorWith().attest(15)).map(formatSelector).includes(`docker:image_id:${IMAGE}`));
    // The main process is not visible from here (another pid namespace, or it exited).
    statePid = 4242;
    assert.ok((await attestorWith().attest(15)).map(formatSelector).includes(`docker:image_id:${IMAGE}`));
  });

  it("config: defaults and every problem at once", () => {
    assert.deepEqual(parseDockerAttestorConfig(undefined), { socketPath: "/var/run/docker.sock", envVars: [], requestTimeoutMs: 5000 });
    assert.deepEqual(parseDockerAttestorConfig({ env_vars: ["A", "A", "B"] }).envVars, ["A", "B"]);
    assert.throws(
      () => parseDockerAttestorConfig({ socket_path: "docker.sock", env_vars: ["OK", "A=B"], envs: [] }),
      (e) => {
        const p = (SpindleError.is(e, "ERR_CONFIG_INVALID") ? e.details["problems"] : []) as string[];
        return p.length === 3 && p.some((x) => x.startsWith("workload_attestors.docker.envs: unknown key")) && p.some((x) => x.startsWith("workload_attestors.docker.socket_path:")) && p.some((x) => x.startsWith("workload_attestors.docker.env_vars.1:"));
      },
    );
  });
});
