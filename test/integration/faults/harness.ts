// One trust domain of real processes for the fault suite: a `spindle server run` on SQLite (or a
// given PostgreSQL URL), a join-token `spindle agent run` configured with `trust_bundle` the way
// conf/agent.yaml is, and the current uid registered. Every process is stopped by close().
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.js";
import { runCli, startServerProcess, type CliResult, type ServerProcess } from "../helpers/cli-process.js";
import { freePort } from "../helpers/ports.js";
import { joinTokenAgentId } from "../../../src/ca/nodeattestors/index.js";
import { parseTrustDomain } from "../../../src/spiffe/index.js";
import { createWorkloadApiClient, type WorkloadApiClient } from "../../../src/workload-client/index.js";

export const TD = "example.org";
export const WORKLOAD_ID = `spiffe://${TD}/fault-workload`;

export interface FaultDomainOptions {
  /** Extra server config lines (YAML). */
  serverLines?: readonly string[];
  agentLines?: readonly string[];
}

export interface FaultDomain {
  dir: string;
  port: number;
  serverConfig: string;
  agentConfig: string;
  publicSocket: string;
  agentId: string;
  server: ServerProcess;
  agent: AgentProcess | undefined;
  admin(...args: string[]): Promise<CliResult>;
  /** admin(...) that must succeed; returns parsed JSON when --output json is among the args. */
  adminOk(...args: string[]): Promise<unknown>;
  startServer(): Promise<ServerProcess>;
  startAgent(): Promise<AgentProcess>;
  client(): WorkloadApiClient;
  close(): Promise<void>;
}

export async function startFaultDomain(o: FaultDomainOptions = {}): Promise<FaultDomain> {
  const dir = mkdtempSync(join(tmpdir(), "spindle-fault-"));
  const port = await freePort();
  const adminSocket = join(dir, "server-private", "admin.sock");
  mkdirSync(join(dir, "server-private"), { mode: 0o700 });
  const serverConfig = join(dir, "server.yaml");
  writeFileSync(
    serverConfig,
    [`trust_domain: ${TD}`, `data_dir: ${join(dir, "server")}`, `bind_address: 127.0.0.1:${port}`, `admin_socket: ${adminSocket}`, "health_address: 127.0.0.1:0", ...(o.serverLines ?? [])].join("\n"),
  );
  const clients: WorkloadApiClient[] = [];
  const d: FaultDomain = {
    dir,
    port,
    serverConfig,
    agentConfig: join(dir, "agent.yaml"),
    publicSocket: join(dir, "public", "api.sock"),
    agentId: "",
    server: undefined as unknown as ServerProcess,
    agent: undefined,
    admin: (...a) => runCli([...a, "--admin-socket", adminSocket]),
    async adminOk(...a) {
      const r = await d.admin(...a);
      assert.equal(r.status, 0, `spindle ${a.join(" ")}: ${r.stderr}`);
      return a.includes("json") ? JSON.parse(r.stdout) : r.stdout;
    },
    async startServer() {
      d.server = await startServerProcess(["--config", serverConfig]);
      return d.server;
    },
    async startAgent() {
      d.agent = await startAgentProcess(["--config", d.agentConfig]);
      return d.agent;
    },
    client() {
      const c = createWorkloadApiClient({ address: d.publicSocket });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await d.agent?.stop("SIGKILL");
      await d.server?.stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await d.startServer();
  const { token } = (await d.adminOk("token", "generate", "--output", "json")) as { token: string };
  d.agentId = joinTokenAgentId(parseTrustDomain(TD), token);
  await d.adminOk("entry", "create", "--spiffe-id", WORKLOAD_ID, "--parent-id", d.agentId, "--selector", `unix:uid:${process.getuid!()}`);
  writeFileSync(join(dir, "bootstrap-bundle.pem"), (await d.adminOk("bundle", "show")) as string);
  writeFileSync(
    d.agentConfig,
    [
      `trust_domain: ${TD}`,
      `server_addresses: [127.0.0.1:${port}]`,
      `socket_path: ${d.publicSocket}`,
      'admin_socket: ""',
      `data_dir: ${join(dir, "agent")}`,
      `trust_bundle: ${join(dir, "bootstrap-bundle.pem")}`,
      "health_address: 127.0.0.1:0",
      "sync_interval: 1s",
      `node_attestor: {join_token: {token: ${token}}}`,
      ...(o.agentLines ?? []),
    ].join("\n"),
  );
  return d;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it returns a value other than undefined, or throws after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, timeoutMs: number, f: () => Promise<T | undefined> | T | undefined, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(everyMs);
  }
}

/** Prints one measured fault timing in a form the closing note can quote. */
export function reportTiming(name: string, values: Record<string, number | string>): void {
  process.stdout.write(`FAULT-TIMING ${name} ${JSON.stringify(values)}\n`);
}
