// Builds the `spindle` command tree. Each command group lives in src/cli/commands/<group>.ts and
// registers its subcommands on the group command it is handed; this file only wires them up.
// What commands share with it (I/O, the error line, exits) is in io.ts, so commands never import
// this file.
import { Command, CommanderError } from "commander";
import { SpindleError } from "../common/errors.js";
import { registerCommandGroups, selectedGroup } from "./commands/index.js";
import { CliExit, errorLine, packageVersion, type CliIO } from "./io.js";

export { CliExit, errorLine, packageVersion, type CliIO } from "./io.js";

/**
 * The command tree for `argv`: every group is declared, only the one `argv` selects is loaded
 * (`"*"` as argv[0] loads them all, for tooling that walks the whole tree).
 */
export async function buildProgram(io: CliIO, argv: readonly string[] = ["*"]): Promise<Command> {
  const program = new Command("spindle")
    .description("SPIFFE identity provider: CA server, node agent (Workload API + Envoy SDS) and RBAC authorization compiler")
    .version(packageVersion(), "-v, --version", "print the version and exit")
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      // Usage errors (unknown option, missing argument) take the same form as every other error.
      outputError: (s, write) => write(errorLine(new SpindleError("ERR_INVALID_ARGUMENT", s.replace(/^error: /, "")))),
    });
  await registerCommandGroups(program, io, argv[0] === "*" ? "*" : selectedGroup(argv));
  return program;
}

/** Runs the CLI; resolves with the process exit code. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const program = await buildProgram(io, argv);
  program.exitOverride();
  for (const cmd of allCommands(program)) cmd.exitOverride();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version "errors" are normal exits; commander already printed the message.
      return err.exitCode;
    }
    if (err instanceof CliExit) return err.exitCode;
    // Anything a command did not report itself still ends as one error line and exit 1.
    io.stderr(errorLine(err));
    return 1;
  }
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}
