// What every CLI command shares: the I/O it writes to, the one error-line form, and the exit
// signal. Commands import this file, never program.ts (which imports the commands).
import { readFileSync } from "node:fs";
import { SpindleError } from "../common/errors.js";

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Environment (only cli/ reads it). */
  env: NodeJS.ProcessEnv;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * The one form every CLI error takes on stderr (text output): `error [CODE]: message` and a
 * newline, the code from the registry in docs/errors.md.
 */
export function errorLine(err: unknown): string {
  const e = SpindleError.from(err);
  return `error [${e.code}]: ${e.message.replace(/\s+$/, "")}\n`;
}

/** Thrown by command actions to end with a given exit code after printing their own message. */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
