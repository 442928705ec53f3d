// Interop with java-spiffe (Maven io.spiffe:java-spiffe-core + grpc-netty-linux): DefaultX509Source
// with chain verification by X509SvidValidator, a JWT-SVID validated through the Workload API and
// locally, and java-spiffe's retry of Unavailable before the agent's first sync. The program under
// java/ is built with Maven once per run (artifacts from Maven Central into ~/.m2); a failed
// download or build fails the suite.
//
// Over a Unix socket grpc-java sends the socket's path as `:authority`, which Node's HTTP/2
// (nghttp2) refuses; the agent rewrites it (src/transport/h2-authority-rewrite.ts), and the `unix://`
// case checks that. The other cases dial `tcp://127.0.0.1:<port>`, a loopback relay in this test
// that copies bytes to and from the agent's Unix socket (the relay is this process, so SO_PEERCRED
// names it; the fixed attestor ignores who calls).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../../src/common/logger.js";
import { startWorkloadApi, type WorkloadApiHarness } from "../../support/workload-api-harness.js";
import { FakeIdentitySource, TEST_FED_TD, createFixedAttestor } from "../../support/fake-identity-source.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const javaDir = join(here, "java");
const jar = join(javaDir, "target", "java-interop.jar");
const SERVICE_A = "spiffe://example.org/service-a";
const SERVICE_LATE = "spiffe://example.org/late";

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Resolves once `predicate` holds, polling every 50 ms; rejects after `ms`. */
async function waitFor(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A loopback TCP listener that relays each connection to `socketPath`. */
async function startRelay(socketPath: string): Promise<{ endpoint: string; close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(socketPath);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `tcp://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("interop with java-spiffe", { timeout: 1_000_000 }, () => {
  let dir: string;
  const apis: WorkloadApiHarness[] = [];
  const relays: { close(): Promise<void> }[] = [];

  before(async () => {
    // Maven's first run downloads plugins and java-spiffe's dependencies; later runs are offline.
    const build = await run("mvn", ["-B", "-q", "package"], { cwd: javaDir, timeoutMs: 900_000 });
    assert.equal(build.code, 0, `mvn -B -q package in ${javaDir} failed (exit ${build.code}, signal ${build.signal}):\n${build.stdout}\n${build.stderr}`);
    dir = mkdtempSync(join(tmpdir(), "spindle-java-interop-"));
  });

  after(async () => {
    for (const relay of relays) await relay.close();
    for (const api of apis) await api.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const runJava = (endpoint: string, audience: string) => run("java", ["-jar", jar, "fetch", audience], { env: { SPIFFE_ENDPOINT_SOCKET: endpoint }, timeoutMs: 60_000 });
  const viaRelay = async (api: WorkloadApiHarness) => {
    const relay = await startRelay(api.socketPath);
    relays.push(relay);
    return relay.endpoint;
  };

  it("DefaultX509Source: SPIFFE ID, chain verified to its bundle, key matches; JWT-SVID validated", async () => {
    const source = new FakeIdentitySource();
    source.grant("test:svc:a", SERVICE_A, { hint: "a", federatesWith: [TEST_FED_TD] });
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:svc:a"]), dir: join(dir, "a") });
    apis.push(api);

    const r = await runJava(await viaRelay(api), "java-aud");
    assert.equal(r.code, 0, `java-interop failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    const [x509, jwt, ...rest] = jsonLines(r.stdout);
    assert.deepEqual(rest, []);
    assert.deepEqual(x509, {
      event: "x509",
      spiffe_id: SERVICE_A,
      hint: "a",
      chain_len: 2,
      chain_verified_to_bundle: true,
      chain_rejected_by_other_bundle: true,
      key_matches_leaf: true,
      svid_count: 1,
      trust_domains: ["example.org", TEST_FED_TD],
    });
    assert.equal(jwt?.["event"], "jwt");
    assert.equal(jwt["spiffe_id"], SERVICE_A);
    assert.deepEqual(jwt["audience"], ["java-aud"]);
    assert.equal(jwt["remote_sub"], SERVICE_A);
    assert.deepEqual(jwt["remote_audience"], ["java-aud"]);
    assert.equal(jwt["local_sub"], SERVICE_A);
    // Both validations refuse another audience; the Workload API says why (InvalidArgument).
    assert.match(String(jwt["wrong_audience_remote_error"]), /INVALID_ARGUMENT|audience/i);
    assert.match(String(jwt["wrong_audience_local_error"]), /audience/i);
    assert.equal(source.mints, 1, "one JWT-SVID minted for the one fetch");
  });

  it("before the first sync the agent answers Unavailable and java-spiffe retries until it is ready", async () => {
    const source = new FakeIdentitySource({ ready: false });
    source.grant("test:svc:late", SERVICE_LATE);
    let refused = 0;
    const logger = createLogger({
      level: "info",
      destination: {
        write(line: string) {
          // The refusal line of the identity log (docs/logging.md), once per window for this caller.
          if (line.includes('"msg":"identity refused"') && line.includes('"code":"ERR_WORKLOAD_API_NOT_READY"')) refused++;
        },
      },
    });
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:svc:late"]), dir: join(dir, "late"), logger });
    apis.push(api);

    const pending = runJava(await viaRelay(api), "late-aud");
    // java-spiffe must have been refused (and kept trying) before the agent becomes ready.
    await waitFor(() => refused >= 1, 30_000, "java-spiffe's first call to be refused as not ready");
    const refusedBeforeReady = refused;
    source.markReady();
    const r = await pending;
    assert.equal(r.code, 0, `java-spiffe gave up instead of retrying Unavailable (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    assert.ok(refusedBeforeReady >= 1);
    const [x509, jwt] = jsonLines(r.stdout);
    assert.equal(x509?.["spiffe_id"], SERVICE_LATE);
    assert.equal(x509["chain_verified_to_bundle"], true);
    assert.equal(x509["key_matches_leaf"], true);
    assert.equal(jwt?.["remote_sub"], SERVICE_LATE);
  });

  it("java-spiffe over the Unix socket itself (unix://): the socket path sent as :authority is rewritten", async () => {
    const source = new FakeIdentitySource();
    source.grant("test:svc:unix", SERVICE_A);
    let rewrites = 0;
    const logger = createLogger({
      level: "debug",
      destination: {
        write(line: string) {
          if (line.includes("rewriting a :authority nghttp2 would reject")) rewrites++;
        },
      },
    });
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:svc:unix"]), dir: join(dir, "unix"), logger });
    apis.push(api);
    const r = await runJava(`unix://${api.socketPath}`, "unix-aud");
    assert.equal(r.code, 0, `java-interop over unix:// failed (exit ${r.code}):\n${r.stderr.split("\n").filter((l) => /Exception|java-interop/.test(l)).slice(0, 4).join("\n")}`);
    const [x509, jwt] = jsonLines(r.stdout);
    assert.equal(x509?.["spiffe_id"], SERVICE_A);
    assert.equal(x509["chain_verified_to_bundle"], true);
    assert.equal(x509["key_matches_leaf"], true);
    assert.equal(jwt?.["remote_sub"], SERVICE_A);
    assert.ok(rewrites >= 1, "the agent never saw the path-like :authority, so this case did not test the rewrite");
  });
});
