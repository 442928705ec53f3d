// Shared plumbing of the commands that talk to a server's admin socket: the --admin-socket and
// --output options, running one call, printing the result as JSON or text, and reporting errors
// as "error [CODE]: message" (errorLine in program.ts) with exit code 1.
import { Option, type Command } from "commander";
import { SpindleError } from "../../common/errors.js";
import type { AdminClient } from "../../ca/admin/index.js";
import { socketDefaults } from "../config/socket-defaults.js";
import { CliExit, errorLine, type CliIO } from "../io.js";

export interface AdminCommandOptions {
  /** Unset: the default for this user (socket-defaults.ts). */
  adminSocket?: string;
  output: "json" | "text";
}

export function addAdminOptions(cmd: Command): Command {
  return cmd
    .option("--admin-socket <path>", "the server's admin API socket (default: /run/spindle/server/private/admin.sock as root, else under $XDG_RUNTIME_DIR/spindle; see docs/security.md)")
    .addOption(new Option("--output <format>", "output format").choices(["json", "text"]).default("text"));
}

/** Runs `call` against the admin socket and prints `json` (--output json) or `text` of its result. */
export async function runAdmin<T>(
  io: CliIO,
  opts: AdminCommandOptions,
  call: (client: AdminClient) => Promise<T>,
  render: { json: (r: T) => unknown; text: (r: T) => string },
): Promise<T> {
  let result: T;
  try {
    // Loaded on demand so `spindle --help` and non-admin commands start fast.
    // The client module alone: the admin index also exports the server side.
    const { createAdminClient } = await import("../../ca/admin/client.js");
    result = await call(createAdminClient({ socketPath: opts.adminSocket ?? socketDefaults(io.env).serverAdminSocket }));
  } catch (err) {
    failWith(io, opts, err);
  }
  if (opts.output === "json") io.stdout(JSON.stringify(render.json(result), null, 2) + "\n");
  else io.stdout(render.text(result));
  return result;
}

export function failWith(io: CliIO, opts: Pick<AdminCommandOptions, "output">, err: unknown): never {
  const e = SpindleError.from(err);
  if (opts.output === "json") io.stderr(JSON.stringify({ error: { code: e.code, message: e.message, ...e.details } }) + "\n");
  else io.stderr(errorLine(e));
  throw new CliExit(1);
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * JSON output's time form everywhere: RFC 3339 in UTC (`2026-12-01T19:10:00.000Z`); null for 0,
 * the admin API's "never" / "unset".
 */
export function rfc3339(ms: bigint | number): string | null {
  const n = Number(ms);
  return n === 0 ? null : new Date(n).toISOString();
}

/** Replaces epoch-millisecond fields of a protobuf JSON object by RFC 3339 (absent when 0). */
export function withTimes(json: Record<string, unknown>, times: Record<string, bigint>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...json };
  for (const [k, v] of Object.entries(times)) {
    const t = rfc3339(v);
    if (t === null) delete out[k];
    else out[k] = t;
  }
  return out;
}

/** Text output's time form: RFC 3339, or "never" for 0. */
export function iso(ms: bigint | number): string {
  const n = Number(ms);
  return n === 0 ? "never" : new Date(n).toISOString();
}
