// `spindle dev`: a server and an agent in one process for local development. The server keeps its
// SQLite store in a fresh temporary directory (or --data-dir), its CA keys in memory (or on disk
// with --data-dir); the agent attests over the real agent API with a join token minted for it, and
// the current user gets an entry `unix:uid:<uid>` -> spiffe://<td>/dev/<user>. Ctrl-C stops both
// and exits 0.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { systemClock } from "../../common/clock.js";
import { SpindleError } from "../../common/errors.js";
import { createLogger, type Logger } from "../../common/logger.js";
import { pemToDers } from "../../common/pem.js";
import { trustDomainProblem } from "../../ca/registration/index.js";
import { DEFAULT_ADMIN_SOCKET } from "../config/index.js";
import { DEFAULT_AGENT_ADMIN_SOCKET, DEFAULT_AGENT_SOCKET } from "../config/agent-config.js";
import { CliExit, packageVersion, type CliIO } from "../program.js";

interface DevOpts {
  trustDomain: string;
  dataDir?: string;
  socketPath: string;
  adminSocket: string;
  agentAdminSocket: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
}

/** A SPIFFE ID path segment from a user name (anything outside [A-Za-z0-9._-] becomes "-"). */
export function devPathSegment(user: string): string {
  const s = user.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^\.+$/, "-");
  return s === "" ? "user" : s;
}

export function registerDevCommand(cmd: Command, io: CliIO): void {
  cmd
    .option("--trust-domain <name>", "trust domain", (v) => {
      const p = trustDomainProblem(v);
      if (p) throw new InvalidArgumentError(p);
      return v;
    }, "example.org")
    .option("--data-dir <dir>", "keep the datastore and CA keys here across runs (default: a temporary directory, removed on exit; keys in memory)")
    .option("--socket-path <path>", "the agent's public socket (Workload API, SDS)", DEFAULT_AGENT_SOCKET)
    .option("--admin-socket <path>", "the server's admin socket (spindle entry/token/bundle ...)", DEFAULT_ADMIN_SOCKET)
    .option("--agent-admin-socket <path>", "the agent's admin socket (spindle explain, spindle agent envoys)", DEFAULT_AGENT_ADMIN_SOCKET)
    .option("--log-level <level>", "trace|debug|info|warn|error|fatal|silent", "warn")
    .action(async (opts: DevOpts) => {
      const logger = createLogger({ level: opts.logLevel, base: { service: "spindle-dev" } });
      await runDev(io, logger, opts);
    });
}

async function runDev(io: CliIO, logger: Logger, opts: DevOpts): Promise<void> {
  const stopped = new Promise<string>((r) => {
    process.once("SIGTERM", () => r("SIGTERM"));
    process.once("SIGINT", () => r("SIGINT"));
  });
  const temporary = opts.dataDir === undefined;
  const dataDir = temporary ? mkdtempSync(join(tmpdir(), "spindle-dev-")) : resolve(opts.dataDir!);
  const stops: (() => Promise<void> | void)[] = [() => void (temporary && rmSync(dataDir, { recursive: true, force: true }))];
  const stopAll = async () => {
    while (stops.length > 0) {
      try {
        await stops.pop()!();
      } catch (err) {
        logger.warn({ err }, "error during shutdown");
      }
    }
  };
  const { createServer } = await import("../../ca/server/index.js");
  const { createAdminClient } = await import("../../ca/admin/index.js");
  const { createAgent } = await import("../../agent/agent.js");
  const { createUnixAttestor } = await import("../../agent/attestors/index.js");
  const { joinToken } = await import("../../agent/nodeattestors/index.js");
  const { joinTokenAgentId } = await import("../../ca/nodeattestors/index.js");
  const { parseTrustDomain } = await import("../../spiffe/index.js");
  const td = opts.trustDomain;
  const user = userInfo();
  const uid = process.getuid?.() ?? user.uid;
  const spiffeId = `spiffe://${td}/dev/${devPathSegment(user.username)}`;
  let agent: ReturnType<typeof createAgent> | undefined;
  try {
    const server = createServer(
      {
        trustDomain: td,
        serverId: "dev",
        dataDir: join(dataDir, "server"),
        bindAddress: { host: "127.0.0.1", port: 0 },
        adminSocket: resolve(opts.adminSocket),
        datastore: { kind: "sqlite", path: join(dataDir, "server", "datastore.sqlite3") },
        caTtlSeconds: 86_400,
        x509SvidTtlSeconds: 3600,
        jwtSvidTtlSeconds: 300,
        keyManager: temporary ? "memory" : "disk",
        caKeyType: "ec-p256",
        jwtKeyType: "ec-p256",
        logLevel: opts.logLevel,
        healthAddress: { host: "127.0.0.1", port: 0 },
        bundleRefreshHintSeconds: 300,
      },
      { logger, clock: systemClock, version: packageVersion() },
    );
    stops.push(() => server.stop());
    await server.start();
    const api = server.agentApiAddress()!;

    // Registration through the admin API, exactly as an operator would do it.
    const admin = createAdminClient({ socketPath: resolve(opts.adminSocket) });
    const { token } = await admin.generateJoinToken({ ttl: 600 });
    const agentId = joinTokenAgentId(parseTrustDomain(td), token);
    await admin.createEntry({ entry: { spiffeId, parentId: agentId, selectors: [{ type: "unix", value: `uid:${uid}` }] } });
    const bundle = await admin.getBundle({});

    // A fresh agent data dir per run: its join token is single-use and its entry is parented to it.
    const agentDir = mkdtempSync(join(dataDir, "agent-"));
    const theAgent = createAgent({
      trustDomain: td,
      serverAddresses: [`${api.host}:${api.port}`],
      socketPath: resolve(opts.socketPath),
      adminSocketPath: resolve(opts.agentAdminSocket),
      dataDir: agentDir,
      nodeAttestor: joinToken.createJoinTokenAgentAttestor({ token }),
      trustBundleDer: pemToDers(bundle.pem, "CERTIFICATE"),
      workloadAttestors: [createUnixAttestor({ logger })],
      healthAddress: { host: "127.0.0.1", port: 0 },
      logger,
      clock: systemClock,
    });
    agent = theAgent;
    stops.push(() => theAgent.stop());
    await theAgent.start();
    await Promise.race([theAgent.whenReady(), stopped]);
  } catch (err) {
    const e = SpindleError.from(err);
    logger.error({ code: e.code, err: e.cause ?? e }, "spindle dev failed to start");
    await stopAll();
    io.stderr(`error: ${e.code}: ${e.message}\n`);
    throw new CliExit(1);
  }
  const socket = resolve(opts.socketPath);
  io.stdout(
    [
      `spindle dev: server and agent running (trust domain ${td}${temporary ? ", temporary data" : `, data in ${dataDir}`})`,
      `  your identity:       ${spiffeId} (selector unix:uid:${uid})`,
      `  Workload API / SDS:  ${socket}`,
      `  server admin socket: ${resolve(opts.adminSocket)}`,
      `  agent health:        http://${agent!.healthAddress()!.host}:${agent!.healthAddress()!.port}/ready`,
      "",
      "Fetch your X.509-SVID:",
      `  npx spindle api fetch x509 --socket-path ${socket}`,
      `  (or: export SPIFFE_ENDPOINT_SOCKET=unix://${socket})`,
      "Register more workloads:",
      `  npx spindle entry create --admin-socket ${resolve(opts.adminSocket)} --parent-id ${agent!.status().agentId} --spiffe-id spiffe://${td}/<name> --selector unix:uid:<uid>`,
      "Why does a process get (no) identity?",
      `  npx spindle explain --admin-socket ${resolve(opts.agentAdminSocket)} --pid <pid>`,
      "Press Ctrl-C to stop.",
      "",
    ].join("\n"),
  );
  const signal = await stopped;
  logger.info({ signal }, "shutting down");
  await stopAll();
  io.stderr("spindle dev: stopped\n");
  await new Promise<void>((r) => logger.flush(() => r()));
}
