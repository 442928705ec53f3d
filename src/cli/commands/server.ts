// `spindle server run`: loads the config, starts a server instance and runs it until SIGTERM or
// SIGINT (clean shutdown, exit 0). A failed start prints the reason and exits 1.
import type { Command } from "commander";
import { systemClock } from "../../common/clock.js";
import { SpindleError } from "../../common/errors.js";
import { createLogger } from "../../common/logger.js";
import { loadServerConfig, type ServerFlags } from "../config/index.js";
import { CliExit, errorLine, packageVersion, type CliIO } from "../io.js";

type RunOpts = ServerFlags & { config?: string; allowNewDatastore?: boolean };

export function registerServerCommands(group: Command, io: CliIO): void {
  group
    .command("run")
    .description("run the server: CA, datastore, admin API, health and metrics")
    .option("-c, --config <file>", "YAML configuration file (see conf/server-full.yaml)")
    .option("--trust-domain <name>", "trust domain (overrides trust_domain)")
    .option("--data-dir <dir>", "data directory (overrides data_dir)")
    .option("--bind <host:port>", "agent API address (overrides bind_address)")
    .option("--admin-socket <path>", "admin API socket (overrides admin_socket)")
    .option("--datastore <url>", "postgres:// URL or sqlite:<path> (overrides datastore)")
    .option("--log-level <level>", "trace|debug|info|warn|error|fatal|silent (overrides log_level)")
    .option("--allow-new-datastore", "start although the data dir has held a trust domain and the datastore is empty or another one (see docs/commands/server.md)")
    .action(async (opts: RunOpts) => {
      let config;
      try {
        config = loadServerConfig({ configFile: opts.config, flags: opts, env: io.env, cwd: process.cwd() });
      } catch (err) {
        const e = SpindleError.from(err);
        io.stderr(errorLine(e));
        throw new CliExit(1);
      }
      const logger = createLogger({ level: config.logLevel, base: { service: "spindle-server" } });
      // Loaded on demand: the server pulls in the datastore drivers and HTTP/2 stacks, which
      // would slow every other `spindle` command down.
      const { createServer, formatHostPort } = await import("../../ca/server/index.js");
      const server = createServer({ ...config, allowNewDatastore: opts.allowNewDatastore === true }, { logger, clock: systemClock, version: packageVersion() });
      const stopped = new Promise<string>((resolve) => {
        process.once("SIGTERM", () => resolve("SIGTERM"));
        process.once("SIGINT", () => resolve("SIGINT"));
      });
      try {
        await server.start();
      } catch (err) {
        const e = SpindleError.from(err);
        logger.fatal({ code: e.code, err: e.cause ?? e }, "server failed to start");
        logger.flush();
        io.stderr(errorLine(e));
        throw new CliExit(1);
      }
      const oidc = server.oidc();
      io.stderr(
        `spindle server: ready (trust domain ${config.trustDomain}, admin socket ${config.adminSocket}, health ${formatHostPort(server.healthAddress()!)}${oidc ? `, oidc ${oidc.discoveryUrl}` : ""})\n`,
      );
      const signal = await stopped;
      logger.info({ signal }, "shutting down");
      await server.stop();
      logger.info("stopped");
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    });
}
