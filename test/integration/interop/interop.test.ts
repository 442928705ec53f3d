// Interop with the official SPIFFE SDKs: go-spiffe (X509Source, JWTSource + validation, bundle
// watch, and mTLS between two go-spiffe services with tlsconfig.AuthorizeID) and py-spiffe. Every
// identity gets its own Workload API socket (all callers share this test's uid). The Go program is
// built once per run (GOFLAGS=-mod=mod, modules from the proxy) and py-spiffe is installed with pip
// into bin/venv; if either download fails, the suite fails.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startWorkloadApi, type WorkloadApiHarness } from "../../../src/agent/workload-api/test-harness.testing.js";
import { FakeIdentitySource, TEST_FED_TD, createFixedAttestor } from "../../../src/agent/workload-api/testing.js";
import { createTestCa } from "../../../src/spiffe/testing/test-ca.js";
import { createTestBundle } from "../../../src/spiffe/testing/test-bundle.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const goDir = join(here, "go");
const goBin = join(goDir, "bin", "interop");
const pyDir = join(here, "python");
const venv = join(pyDir, "bin", "venv");
const SERVICE_A = "spiffe://example.org/service-a";
const SERVICE_B = "spiffe://example.org/service-b";
const INTRUDER = "spiffe://example.org/intruder";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustRun(cmd: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<Run> {
  const r = await run(cmd, args, options);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Starts a long-running program and hands out its JSON stdout lines one by one. */
function startLines(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): { child: ChildProcess; next(): Promise<Record<string, unknown>>; stderr(): string } {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const queue: Record<string, unknown>[] = [];
  const waiters: ((v: Record<string, unknown>) => void)[] = [];
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (!line.startsWith("{")) return;
    const v = JSON.parse(line) as Record<string, unknown>;
    const w = waiters.shift();
    if (w) w(v);
    else queue.push(v);
  });
  return {
    child,
    stderr: () => stderr,
    next: () => {
      const v = queue.shift();
      if (v !== undefined) return Promise.resolve(v);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${cmd} ${args[0]} printed nothing in 30 s; stderr:\n${stderr}`)), 30_000);
        waiters.push((x) => {
          clearTimeout(timer);
          resolve(x);
        });
      });
    },
  };
}

describe("interop with the official SPIFFE SDKs", { timeout: 900_000 }, () => {
  let dir: string;
  let source: FakeIdentitySource;
  const apis = new Map<string, WorkloadApiHarness>();
  const endpoint = (id: string) => ({ SPIFFE_ENDPOINT_SOCKET: `unix://${apis.get(id)!.socketPath}` });

  before(async () => {
    // Build and install first: a download failure fails the suite (never a skip).
    await mustRun("go", ["build", "-o", goBin, "."], { cwd: goDir, env: { GOFLAGS: "-mod=mod -buildvcs=false" }, timeoutMs: 600_000 });
    if (!existsSync(join(venv, "bin", "python"))) await mustRun("python3", ["-m", "venv", venv], { timeoutMs: 120_000 });
    await mustRun(join(venv, "bin", "python"), ["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", join(pyDir, "requirements.txt")], { timeoutMs: 600_000 });

    dir = mkdtempSync(join(tmpdir(), "spindle-interop-"));
    source = new FakeIdentitySource();
    source.grant("test:svc:a", SERVICE_A, { hint: "a", federatesWith: [TEST_FED_TD] });
    source.grant("test:svc:b", SERVICE_B);
    source.grant("test:svc:intruder", INTRUDER);
    for (const [id, selector] of [[SERVICE_A, "test:svc:a"], [SERVICE_B, "test:svc:b"], [INTRUDER, "test:svc:intruder"]] as const) {
      const sub = join(dir, selector.replaceAll(":", "-"));
      apis.set(id, await startWorkloadApi({ source, attestor: createFixedAttestor([selector]), dir: sub }));
    }
  });

  after(async () => {
    for (const api of apis.values()) await api.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("go-spiffe: X509Source, JWTSource and ValidateJWTSVID", async () => {
    const r = await mustRun(goBin, ["fetch", "-audience", "interop-aud"], { env: endpoint(SERVICE_A) });
    const [x509, jwt] = jsonLines(r.stdout);
    assert.deepEqual(x509, { event: "x509", spiffe_id: SERVICE_A, verified_id: SERVICE_A, chain_len: 2, verified_chain_len: 3, hint: "a" });
    assert.equal(jwt?.["event"], "jwt");
    assert.equal(jwt["spiffe_id"], SERVICE_A);
    assert.equal(jwt["local_sub"], SERVICE_A);
    assert.equal(jwt["remote_sub"], SERVICE_A);
    assert.deepEqual(jwt["audience"], ["interop-aud"]);
    assert.match(String(jwt["wrong_audience_error"]), /InvalidArgument/);
  });

  it("go-spiffe: the bundle watch receives the initial bundles and each change", async () => {
    const watch = startLines(goBin, ["watch-bundles", "-count", "2"], endpoint(SERVICE_A));
    try {
      assert.deepEqual(await watch.next(), { event: "jwt-bundles", bundles: ["spiffe://example.org=1", `spiffe://${TEST_FED_TD}=1`] });
      assert.deepEqual(await watch.next(), { event: "x509-bundles", n: 1, bundles: ["spiffe://example.org=1", `spiffe://${TEST_FED_TD}=1`] });
      const newFedRoot = createTestCa({ trustDomain: TEST_FED_TD });
      source.setFederatedBundle(TEST_FED_TD, createTestBundle({ cas: [source.trust.fedRoot, newFedRoot], jwtAuthorities: [source.trust.fedJwt] }));
      assert.deepEqual(await watch.next(), { event: "x509-bundles", n: 2, bundles: ["spiffe://example.org=1", `spiffe://${TEST_FED_TD}=2`] });
    } finally {
      watch.child.kill();
    }
  });

  it("go-spiffe mTLS: service-a calls service-b with AuthorizeID; a third identity is refused", async () => {
    const server = startLines(goBin, ["mtls-server", "-allow", SERVICE_A], endpoint(SERVICE_B));
    try {
      const listening = await server.next();
      assert.equal(listening["event"], "listening", server.stderr());
      const addr = String(listening["addr"]);

      const ok = await run(goBin, ["mtls-client", "-connect", addr, "-server-id", SERVICE_B], { env: endpoint(SERVICE_A) });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.deepEqual(jsonLines(ok.stdout), [{ event: "reply", reply: `hello ${SERVICE_A}, you said ping from ${SERVICE_A}` }]);
      assert.deepEqual(await server.next(), { event: "served", peer: SERVICE_A });

      const refused = await run(goBin, ["mtls-client", "-connect", addr, "-server-id", SERVICE_B], { env: endpoint(INTRUDER) });
      assert.notEqual(refused.code, 0, "the intruder must not get an answer");
      assert.equal(jsonLines(refused.stdout)[0]?.["event"], "error");
      const serverSide = await server.next();
      assert.equal(serverSide["event"], "refused");
      assert.match(String(serverSide["error"]), new RegExp(INTRUDER.replaceAll("/", "\\/")));

      const wrongServer = await run(goBin, ["mtls-client", "-connect", addr, "-server-id", INTRUDER], { env: endpoint(SERVICE_A) });
      assert.notEqual(wrongServer.code, 0, "the client refuses a server with another ID");
      assert.match(String(jsonLines(wrongServer.stdout)[0]?.["error"]), /unexpected ID/);
      await server.next();
    } finally {
      server.child.kill();
    }
  });

  it("py-spiffe: fetches the SVID, checks the SPIFFE ID, the chain and a JWT-SVID", async () => {
    const r = await mustRun(join(venv, "bin", "python"), [join(pyDir, "fetch_svid.py"), SERVICE_A, "py-aud"], { env: endpoint(SERVICE_A) });
    assert.deepEqual(JSON.parse(r.stdout.trim()), {
      spiffe_id: SERVICE_A,
      id_matches: true,
      chain_len: 2,
      chain_verified_to_bundle: true,
      key_matches_leaf: true,
      svid_count: 1,
      trust_domains: ["example.org", TEST_FED_TD],
      jwt_sub: SERVICE_A,
      jwt_audience: ["py-aud"],
    });
  });
});
