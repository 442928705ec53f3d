// `spindle dev`: a server and an agent in one process for local development. Everything lives in
// ./.spindle (or --data-dir): the server's SQLite store and its CA keys (on disk, 0600), so a second
// run in the same directory keeps the trust domain, its bundle and every entry. The agent attests
// over the real agent API with a join token minted for this run (a fresh agent ID each run, since
// join tokens are single-use and its token carries no node alias (no --spiffe-id), so no alias entry matches its agent),
// and the current user's entry `unix:uid:<uid>` -> spiffe://<td>/dev/<user> is re-parented to it,
// together with every entry parented to the previous run's agent. Ctrl-C stops both and exits 0.
import { mkdirSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { systemClock } from "../../common/clock.js";
import { SpindleError } from "../../common/errors.js";
import { createLogger, type Logger } from "../../common/logger.js";
import { pemToDers } from "../../common/pem.js";
import type { AdminClient } from "../../ca/admin/index.js";
import { trustDomainProblem } from "../../ca/registration/index.js";
import { socketDefaults } from "../config/index.js";
import { CliExit, errorLine, packageVersion, type CliIO } from "../io.js";

interface DevOpts {
  trustDomain: string;
  dataDir: string;
  socketPath: string;
  adminSocket: string;
  agentAdminSocket: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
}

/** Relative to the directory `spindle dev` runs in (`.gitignore` lists it). */
export const DEFAULT_DEV_DATA_DIR = ".spindle";

/** A SPIFFE ID path segment from a user name (anything outside [A-Za-z0-9._-] becomes "-"). */
export function devPathSegment(user: string): string {
  const s = user.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^\.+$/, "-");
  return s === "" ? "user" : s;
}

export interface DevEntryTarget {
  spiffeId: string;
  uid: number;
  /** This run's agent ID (known before it attests: derived from the join token). */
  agentId: string;
}

async function listAll(admin: AdminClient, filter: { spiffeId?: string; parentId?: string; selectors?: { type: string; value: string }[] }) {
  const all = [];
  let pageToken = "";
  do {
    const page = await admin.listEntries({ filter, pageToken });
    all.push(...page.entries);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

/**
 * Makes the dev entry (`unix:uid:<uid>` -> spiffeId) a child of this run's agent. If it exists from
 * an earlier run, every entry sharing its old parent (the previous dev agent) moves with it, the
 * dev entry last: should this stop half-way, the next run finds the old parent again and finishes.
 * Returns how many entries moved and whether the dev entry was created.
 */
export async function adoptDevEntries(admin: AdminClient, t: DevEntryTarget): Promise<{ moved: number; created: boolean }> {
  const selectors = [{ type: "unix", value: `uid:${t.uid}` }];
  const [dev] = await listAll(admin, { spiffeId: t.spiffeId, selectors });
  if (dev === undefined) {
    await admin.createEntry({ entry: { spiffeId: t.spiffeId, parentId: t.agentId, selectors } });
    return { moved: 0, created: true };
  }
  if (dev.parentId === t.agentId) return { moved: 0, created: false };
  const followers = (await listAll(admin, { parentId: dev.parentId })).filter((e) => e.id !== dev.id);
  for (const e of [...followers, dev]) {
    await admin.updateEntry({ entry: { id: e.id, parentId: t.agentId }, fields: ["parent_id"] });
  }
  return { moved: followers.length + 1, created: false };
}

export function registerDevCommand(cmd: Command, io: CliIO): void {
  cmd
    .option("--trust-domain <name>", "trust domain", (v) => {
      const p = trustDomainProblem(v);
      if (p) throw new InvalidArgumentError(p);
      return v;
    }, "example.org")
    .option("--data-dir <dir>", "the datastore and CA keys, kept across runs", DEFAULT_DEV_DATA_DIR)
    .option("--socket-path <path>", "the agent's public socket (Workload API, SDS)", socketDefaults(io.env).agentSocket)
    .option("--admin-socket <path>", "the server's admin socket (spindle entry/token/bundle ...)", socketDefaults(io.env).serverAdminSocket)
    .option("--agent-admin-socket <path>", "the agent's admin socket (spindle explain, spindle agent envoys)", socketDefaults(io.env).agentAdminSocket)
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
  const dataDir = resolve(opts.dataDir);
  // The agent attests anew each run (see adoptDevEntries): a saved agent SVID would bring back the
  // previous agent ID, whose entries this run moves away. So its state never outlives the run.
  const agentDir = join(dataDir, "agent");
  const stops: (() => Promise<void> | void)[] = [() => rmSync(agentDir, { recursive: true, force: true })];
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
  let adopted = { moved: 0, created: false };
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    rmSync(agentDir, { recursive: true, force: true });
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
        keyManager: "disk",
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
    adopted = await adoptDevEntries(admin, { spiffeId, uid, agentId });
    const bundle = await admin.getBundle({});

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
    io.stderr(errorLine(e));
    throw new CliExit(1);
  }
  const socket = resolve(opts.socketPath);
  const agentId = agent!.status().agentId;
  const carried = adopted.moved > 1 ? `; ${adopted.moved - 1} more entr${adopted.moved === 2 ? "y" : "ies"} of the previous run moved to this agent` : "";
  io.stdout(
    [
      `spindle dev: server and agent running (trust domain ${td}, data in ${dataDir})`,
      `  your identity:       ${spiffeId} (selector unix:uid:${uid}; ${adopted.created ? "entry created" : "entry kept from an earlier run"}${carried})`,
      `  agent:               ${agentId}`,
      `  Workload API / SDS:  ${socket}`,
      `  server admin socket: ${resolve(opts.adminSocket)}`,
      `  agent health:        http://${agent!.healthAddress()!.host}:${agent!.healthAddress()!.port}/ready`,
      "",
      "Fetch your X.509-SVID:",
      `  npx spindle api fetch x509 --socket-path ${socket}`,
      `  (or: export SPIFFE_ENDPOINT_SOCKET=unix://${socket})`,
      "An Envoy sidecar presenting your SVID, accepting callers with it (add --upstream to call out):",
      `  npx spindle envoy bootstrap --role sidecar --socket-path ${socket} --spiffe-id ${spiffeId} --peer-id ${spiffeId} > envoy.yaml`,
      "Register more workloads (entries parented to the dev agent follow it to the next run):",
      `  npx spindle entry create --admin-socket ${resolve(opts.adminSocket)} --parent-id ${agentId} --spiffe-id spiffe://${td}/<name> --selector unix:uid:<uid>`,
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
