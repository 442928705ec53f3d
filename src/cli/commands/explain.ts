// `spindle explain --pid N`: asks the running agent (over its private admin socket) why process N
// gets the identities it gets, or which selectors it lacks for the closest entry.
import { InvalidArgumentError, Option, type Command } from "commander";
import { SpindleError } from "../../common/errors.js";
import { DEFAULT_AGENT_ADMIN_SOCKET } from "../config/defaults.js";
import { CliExit, type CliIO } from "../program.js";

export function registerExplain(cmd: Command, io: CliIO): void {
  cmd
    .requiredOption("--pid <pid>", "the process to explain", (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`--pid must be a positive integer, got ${JSON.stringify(v)}`);
      return n;
    })
    .option("--admin-socket <path>", "the agent's admin socket", DEFAULT_AGENT_ADMIN_SOCKET)
    .addOption(new Option("--output <format>", "output format").choices(["json", "text"]).default("text"))
    .action(async (opts: { pid: number; adminSocket: string; output: "json" | "text" }) => {
      const { agentAdminGet } = await import("../../agent/admin/client.js");
      const { explainText } = await import("./agent-render.js");
      let result: unknown;
      try {
        result = await agentAdminGet(opts.adminSocket, `/explain?pid=${opts.pid}`);
      } catch (err) {
        const e = SpindleError.from(err);
        io.stderr(`error: ${e.code}: ${e.message}\n`);
        throw new CliExit(1);
      }
      io.stdout(opts.output === "json" ? JSON.stringify(result, null, 2) + "\n" : explainText(result as Parameters<typeof explainText>[0]));
    });
}
