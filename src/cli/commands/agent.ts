// `spindle agent run`: loads the agent config, attests to the server and serves the Workload API,
// SDS, ECDS and health on one Unix socket until SIGTERM or SIGINT (clean shutdown, exit 0). A
// failed start prints the reason and exits 1. `spindle agent envoys` asks a running agent over its
// admin socket which Envoys are connected and what each last ACKed or NACKed; `spindle agent
// healthcheck` whether it is up and past its first sync.
import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { systemClock } from "../../common/clock.js";
import { SpindleError, spindleError } from "../../common/errors.js";
import { createLogger, type Logger } from "../../common/logger.js";
import { pemToDers } from "../../common/pem.js";
import type { AgentNodeAttestor } from "../../agent/nodeattestors/plugin.js";
import { socketDefaults } from "../config/socket-defaults.js";
import { loadAgentConfig, type AgentConfig, type AgentFlags } from "../config/agent-config.js";
import { CliExit, errorLine, type CliIO } from "../io.js";
import { registerAgentAdminCommands } from "./agent-admin.js";
import { registerAgentHealthcheck } from "./healthcheck.js";

type RunOpts = AgentFlags & { config?: string };

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerAgentCommands(group: Command, io: CliIO): void {
  group
    .command("run")
    .description("run the agent: attest, sync, and serve the Workload API, SDS, ECDS and health on one socket")
    .option("-c, --config <file>", "YAML configuration file (see conf/agent-full.yaml)")
    .option("--server-address <host:port>", "agent API address of a server replica; repeat for failover (overrides server_addresses)", collect)
    .option("--trust-domain <name>", "trust domain (overrides trust_domain)")
    .option("--socket-path <path>", `public socket (overrides socket_path; default ${socketDefaults(io.env).agentSocket})`)
    .option("--join-token <token>", "attest with this join token (replaces node_attestor)")
    .option("--trust-bundle <file>", "PEM X.509 authorities to verify the server with (overrides trust_bundle)")
    .option("--data-dir <dir>", "data directory (overrides data_dir)")
    .option("--admin-socket <path>", "private admin socket; \"\" disables it (overrides admin_socket)")
    .option("--insecure-bootstrap", "attest WITHOUT verifying the server when no trust bundle is known (dangerous)")
    .option("--authz-policy <file>", "serve this policy file as Envoy RBAC over ECDS (overrides authz_policy)")
    .option("--log-level <level>", "trace|debug|info|warn|error|fatal|silent (overrides log_level)")
    .action(async (opts: RunOpts) => {
      let config: AgentConfig;
      try {
        config = loadAgentConfig({ configFile: opts.config, flags: opts, env: io.env, cwd: process.cwd() });
      } catch (err) {
        const e = SpindleError.from(err);
        io.stderr(errorLine(e));
        throw new CliExit(1);
      }
      if (config.insecureBootstrap) {
        io.stderr("WARNING: --insecure-bootstrap: the server's identity is NOT verified on first contact; use --trust-bundle in production\n");
      }
      const logger = createLogger({ level: config.logLevel, base: { service: "spindle-agent" } });
      await runAgentUntilSignal(io, logger, config);
    });

  group
    .command("envoys")
    .description("list the Envoys connected to a running agent and what each last ACKed or NACKed")
    .option("--admin-socket <path>", "the agent's admin socket", socketDefaults(io.env).agentAdminSocket)
    .addOption(new Option("--output <format>", "output format").choices(["json", "text"]).default("text"))
    .action(async (opts: { adminSocket: string; output: "json" | "text" }) => {
      const { agentAdminGet } = await import("../../agent/admin/index.js");
      const { envoysText } = await import("./agent-render.js");
      let result: unknown;
      try {
        result = await agentAdminGet(opts.adminSocket, "/envoys");
      } catch (err) {
        const e = SpindleError.from(err);
        io.stderr(errorLine(e));
        throw new CliExit(1);
      }
      io.stdout(opts.output === "json" ? JSON.stringify(result, null, 2) + "\n" : envoysText(result as Parameters<typeof envoysText>[0]));
    });

  registerAgentHealthcheck(group, io, socketDefaults(io.env).agentAdminSocket);
  registerAgentAdminCommands(group, io);
}

/** Builds the configured node attestor (reads the files it names). */
export async function nodeAttestorOf(config: AgentConfig): Promise<AgentNodeAttestor> {
  const n = config.nodeAttestor;
  const plugins = await import("../../agent/nodeattestors/index.js");
  switch (n.name) {
    case "join_token":
      return plugins.joinToken.createJoinTokenAgentAttestor(n.config);
    case "x509pop":
      return plugins.x509pop.loadX509PopAgentAttestor(n.config);
    case "k8s_psat":
      return plugins.k8sPsat.createK8sPsatAgentAttestor(n.config);
  }
}

export function readTrustBundle(path: string): Buffer[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw spindleError("ERR_CONFIG_READ", `cannot read trust bundle ${path}: ${(err as Error).message}`, { cause: err });
  }
  const ders = pemToDers(text, "CERTIFICATE");
  if (ders.length === 0) throw spindleError("ERR_CONFIG_INVALID", `trust bundle ${path} holds no PEM CERTIFICATE`);
  return ders;
}

async function runAgentUntilSignal(io: CliIO, logger: Logger, config: AgentConfig): Promise<void> {
  const stopped = new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  // Loaded on demand: the agent pulls in grpc-js, connect-node and the xDS stacks.
  const { createAgent } = await import("../../agent/agent.js");
  const { createDockerAttestor, createK8sAttestor, createUnixAttestor } = await import("../../agent/attestors/index.js");
  let agent;
  try {
    agent = createAgent({
      trustDomain: config.trustDomain,
      serverAddresses: config.serverAddresses,
      socketPath: config.socketPath,
      adminSocketPath: config.adminSocket,
      dataDir: config.dataDir,
      nodeAttestor: await nodeAttestorOf(config),
      trustBundleDer: config.trustBundlePath === undefined ? undefined : readTrustBundle(config.trustBundlePath),
      insecureBootstrap: config.insecureBootstrap,
      // unix always; k8s and docker when configured. Their selectors are combined (fail-closed).
      workloadAttestors: [
        createUnixAttestor({ config: config.unixAttestor, logger }),
        ...(config.k8sAttestor === undefined ? [] : [createK8sAttestor({ config: config.k8sAttestor, logger })]),
        ...(config.dockerAttestor === undefined ? [] : [createDockerAttestor({ config: config.dockerAttestor, logger })]),
      ],
      authzPolicyPath: config.authzPolicyPath,
      authzFilter: config.authzFilter,
      healthAddress: config.healthAddress,
      syncIntervalMs: config.syncIntervalMs,
      keyType: config.workloadKeyType,
      sdsAliases: config.sds,
      spiffeValidator: config.sds.spiffeValidator,
      identityLogWindowMs: config.identityLogWindowMs,
      logger,
      clock: systemClock,
    });
  } catch (err) {
    const e = SpindleError.from(err);
    io.stderr(errorLine(e));
    throw new CliExit(1);
  }
  const started = agent.start().then(
    () => "started" as const,
    (err: unknown) => err,
  );
  const first = await Promise.race([started, stopped]);
  if (first !== "started") {
    if (typeof first === "string") {
      // A signal arrived while the agent was still attesting.
      logger.info({ signal: first }, "stopping before the agent finished starting");
      await agent.stop();
      await flush(logger);
      return;
    }
    const e = SpindleError.from(first);
    logger.fatal({ code: e.code, err: e.cause ?? e }, "agent failed to start");
    await flush(logger);
    io.stderr(errorLine(e));
    throw new CliExit(1);
  }
  const status = agent.status();
  const health = agent.healthAddress();
  io.stderr(
    `spindle agent: attested as ${status.agentId}; serving on ${config.socketPath}` +
      `${config.adminSocket ? `, admin socket ${config.adminSocket}` : ""}${health ? `, health http://${health.host}:${health.port}` : ""}\n`,
  );
  const signal = await stopped;
  logger.info({ signal }, "shutting down");
  await agent.stop();
  logger.info("stopped");
  await flush(logger);
}

function flush(logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => logger.flush(() => resolve()));
}
