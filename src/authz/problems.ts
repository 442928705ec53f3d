// Problems found in a policy or cases file. Validation collects all of them (never stops at the
// first) so the user can fix a file in one pass; each carries file:line:column.
import { SpindleError } from "../common/errors.js";
import type { SourcePos } from "./model.js";

export type Severity = "error" | "warning";

export interface Problem {
  readonly severity: Severity;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export function problemAt(pos: SourcePos, message: string, severity: Severity = "error"): Problem {
  return { severity, file: pos.file, line: pos.line, column: pos.column, message };
}

/** `file:line:column: severity: message`, the format compilers and editors understand. */
export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.severity}: ${p.message}`;
}

export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === "error");
}

/** Sorts by file, line, column, then message, so output never depends on check order. */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort(
    (a, b) => cmp(a.file, b.file) || a.line - b.line || a.column - b.column || cmp(a.message, b.message),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The error thrown by APIs that require a valid file (ERR_AUTHZ_POLICY_INVALID and friends). */
export function invalidFileError(code: "ERR_AUTHZ_POLICY_INVALID" | "ERR_AUTHZ_CASES_INVALID", file: string, problems: readonly Problem[]): SpindleError {
  const errors = sortProblems(problems.filter((p) => p.severity === "error"));
  const count = errors.length === 1 ? "1 problem" : `${errors.length} problems`;
  return new SpindleError(code, `${file} is invalid (${count}):\n${errors.map(formatProblem).join("\n")}`, {
    details: { file, problems: errors },
  });
}
