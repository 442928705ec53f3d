// `spindle explain --pid N`: asks the running agent (over its private admin socket) why process N
// gets the identities it gets, or which selectors it lacks for the closest entry.
import { InvalidArgumentError, Option, type Command } from "commander";
import { isErrorCode, SpindleError } from "../../common/errors.js";
import { socketDefaults } from "../config/socket-defaults.js";
import { CliExit, errorLine, type CliIO } from "../io.js";

export function registerExplain(cmd: Command, io: CliIO): void {
  cmd
    .requiredOption("--pid <pid>", "the process to explain", (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`--pid must be a positive integer, got ${JSON.stringify(v)}`);
      return n;
    })
    .option("--admin-socket <path>", "the agent's admin socket", socketDefaults(io.env).agentAdminSocket)
    .addOption(new Option("--output <format>", "output format").choices(["json", "text"]).default("text"))
    .action(async (opts: { pid: number; adminSocket: string; output: "json" | "text" }) => {
      const { agentAdminGet } = await import("../../agent/admin/client.js");
      const { explainText } = await import("./agent-render.js");
      let result: unknown;
      try {
        result = await agentAdminGet(opts.adminSocket, `/explain?pid=${opts.pid}`);
      } catch (err) {
        const e = SpindleError.from(err);
        io.stderr(errorLine(e));
        throw new CliExit(1);
      }
      io.stdout(opts.output === "json" ? JSON.stringify(result, null, 2) + "\n" : explainText(result as Parameters<typeof explainText>[0]));
      // A pid that cannot be attested (it does not exist, has exited, or cannot be read) is an
      // error for scripts: the explanation above says why, the exit status says that it failed.
      const failed = (result as { attestationError?: { code: string; message: string } }).attestationError;
      if (failed !== undefined) {
        io.stderr(errorLine(new SpindleError(isErrorCode(failed.code) ? failed.code : "ERR_WORKLOAD_ATTESTATION", failed.message)));
        throw new CliExit(1);
      }
    });
}
