// `spindle authz compile|check|test|lint`: the CLI over src/authz (docs/commands/authz.md).
// Exit codes: 0 success (allowed, all cases pass, lint clean); 1 the command could not answer
// (unreadable or invalid file, unknown service, bad flag); 2 the answer is "no" (check: denied;
// test: a case failed; lint --strict: warnings).
import { readFileSync } from "node:fs";
import { Option } from "commander";
import type { Command } from "commander";
import { SpindleError } from "../../common/errors.js";
import type { FilterKind, OutputFormat, Policy, Problem } from "../../authz/index.js";
import { parseSpiffeId } from "../../spiffe/index.js";
import { CliExit, errorLine } from "../io.js";
import type { CliIO } from "../io.js";

// src/authz pulls in every generated Envoy type (for ECDS messages): loaded only when an authz
// command runs, so the rest of the CLI starts fast.
const loadAuthz = () => import("../../authz/index.js");
type Authz = Awaited<ReturnType<typeof loadAuthz>>;

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_NO = 2;

const filterOption = () => new Option("--filter <kind>", "http (HTTP RBAC filter) or network (L4 RBAC filter)").choices(["http", "network"]).default("http");
const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerAuthzCommands(group: Command, io: CliIO): void {
  group
    .command("compile")
    .description("compile a policy to Envoy RBAC filters: spindle.authz.deny, then spindle.authz.allow")
    .argument("<policy>", "the policy file (YAML)")
    .option("--service <id>", "the service (callee SPIFFE ID or listener name); default: every service, keyed by name")
    .addOption(filterOption())
    .addOption(new Option("--format <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .option("--max-regex-program-size <n>", "RE2 program-size budget per regex: Envoy's re2.max_program_size.error_level", "100")
    .action((file: string, opts: CompileFlags) =>
      run(io, ({ compileAll, compilePolicy, formatProblem, renderAllServices, renderFilters }, readPolicy) => {
        const policy = readPolicy(file);
        const budget = Number(opts.maxRegexProgramSize);
        if (!/^\d+$/.test(opts.maxRegexProgramSize) || budget < 20) {
          throw new SpindleError("ERR_INVALID_ARGUMENT", `--max-regex-program-size: "${opts.maxRegexProgramSize}" is not an integer of at least 20`);
        }
        const options = { filter: opts.filter, maxRegexProgramSize: budget };
        const results = opts.service === undefined ? compileAll(policy, options) : [compilePolicy(policy, { ...options, service: opts.service })];
        for (const w of results.flatMap((r) => r.warnings)) io.stderr(`${formatProblem(w)}\n`);
        io.stdout(opts.service === undefined ? renderAllServices(results, opts.format) : renderFilters(results[0]!.filters, opts.format));
        return EXIT_OK;
      }),
    );

  group
    .command("check")
    .description("decide one request: prints allowed or denied, the deciding rule, and for a denial the nearest rule and what differed")
    .argument("<policy>", "the policy file (YAML)")
    .requiredOption("--from <spiffe-id>", "the caller's SPIFFE ID")
    .requiredOption("--to <service>", "the callee: a service of the policy")
    .option("--method <method>", "HTTP method")
    .option("--path <path>", "HTTP path (a query is ignored, as Envoy's url_path does)")
    .option("--port <port>", "destination port")
    .option("--header <name=value>", "request header (repeatable)", collect, [])
    .addOption(filterOption())
    .action((file: string, opts: CheckFlags) =>
      run(io, ({ evaluate, explainDecision, selectService }, readPolicy) => {
        const policy = readPolicy(file);
        const service = selectService(policy, opts.to);
        const request = checkRequest(opts);
        const decision = evaluate(service, request, opts.filter);
        io.stdout(`${explainDecision(service, request, decision).join("\n")}\n`);
        return decision.allowed ? EXIT_OK : EXIT_NO;
      }),
    );

  group
    .command("test")
    .description("run an expectation table of requests against a policy; exits 2 on any mismatch")
    .argument("<policy>", "the policy file (YAML)")
    .argument("<cases>", "the cases file (YAML)")
    .action((file: string, casesFile: string) =>
      run(io, ({ loadCases, runCases, formatProblem }, readPolicy) => {
        const policy = readPolicy(file);
        const loaded = loadCases(readText(casesFile), casesFile, policy);
        printProblems(io, formatProblem, loaded.problems);
        if (!loaded.cases) throw invalid("ERR_AUTHZ_CASES_INVALID", casesFile, loaded.problems);
        const results = runCases(policy, loaded.cases);
        let failed = 0;
        for (const r of results) {
          const at = `${r.testCase.pos.file}:${r.testCase.pos.line}`;
          if (r.failures.length === 0) io.stdout(`ok    ${r.testCase.name}\n`);
          else {
            failed++;
            io.stdout(`FAIL  ${r.testCase.name} (${at})\n${r.failures.map((f) => `        ${f}\n`).join("")}`);
          }
        }
        io.stdout(`${results.length - failed} passed, ${failed} failed\n`);
        return failed === 0 ? EXIT_OK : EXIT_NO;
      }),
    );

  group
    .command("lint")
    .description("validate a policy and warn about rules that are redundant, covered or can never apply")
    .argument("<policy>", "the policy file (YAML)")
    .option("--strict", "exit 2 when there are warnings")
    .action((file: string, opts: { strict?: boolean }) =>
      run(io, ({ loadPolicy, lintPolicy, formatProblem }) => {
        const loaded = loadPolicy(readText(file), file);
        const warnings = loaded.policy ? [...loaded.problems, ...lintPolicy(loaded.policy)] : loaded.problems;
        printProblems(io, formatProblem, warnings);
        if (!loaded.policy) throw invalid("ERR_AUTHZ_POLICY_INVALID", file, loaded.problems);
        io.stdout(warnings.length === 0 ? `${file}: ok\n` : `${file}: ${warnings.length} warning${warnings.length === 1 ? "" : "s"}\n`);
        return warnings.length > 0 && opts.strict ? EXIT_NO : EXIT_OK;
      }),
    );
}

interface CompileFlags {
  service?: string;
  filter: FilterKind;
  format: OutputFormat;
  maxRegexProgramSize: string;
}

interface CheckFlags {
  from: string;
  to: string;
  method?: string;
  path?: string;
  port?: string;
  header: string[];
  filter: FilterKind;
}

function checkRequest(opts: CheckFlags) {
  parseSpiffeId(opts.from);
  let port: number | undefined;
  if (opts.port !== undefined) {
    port = Number(opts.port);
    if (!/^\d+$/.test(opts.port) || port < 1 || port > 65535) throw new SpindleError("ERR_INVALID_ARGUMENT", `--port: "${opts.port}" is not a port (1-65535)`);
  }
  const headers: Record<string, string> = {};
  for (const h of opts.header) {
    const eq = h.indexOf("=");
    if (eq <= 0) throw new SpindleError("ERR_INVALID_ARGUMENT", `--header: "${h}" is not name=value`);
    headers[h.slice(0, eq).toLowerCase()] = h.slice(eq + 1);
  }
  return { from: opts.from, headers, ...(opts.method === undefined ? {} : { method: opts.method }), ...(opts.path === undefined ? {} : { path: opts.path }), ...(port === undefined ? {} : { port }) };
}

function policyReader(io: CliIO, authz: Authz): (file: string) => Policy {
  return (file) => {
    const loaded = authz.loadPolicy(readText(file), file);
    printProblems(io, authz.formatProblem, loaded.problems);
    if (!loaded.policy) throw invalid("ERR_AUTHZ_POLICY_INVALID", file, loaded.problems);
    return loaded.policy;
  };
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new SpindleError("ERR_CONFIG_READ", `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function printProblems(io: CliIO, format: (p: Problem) => string, problems: readonly Problem[]): void {
  for (const p of problems) io.stderr(`${format(p)}\n`);
}

/** The problems themselves were printed one per line already; the error line only counts them. */
function invalid(code: "ERR_AUTHZ_POLICY_INVALID" | "ERR_AUTHZ_CASES_INVALID", file: string, problems: readonly Problem[]): SpindleError {
  const n = problems.filter((p) => p.severity === "error").length;
  return new SpindleError(code, `${file} is invalid (${n} problem${n === 1 ? "" : "s"} above)`);
}

/** Runs a command body; a SpindleError becomes `error [CODE]: message` on stderr and exit 1. */
async function run(io: CliIO, body: (authz: Authz, readPolicy: (file: string) => Policy) => number): Promise<void> {
  const authz = await loadAuthz();
  let code: number;
  try {
    code = body(authz, policyReader(io, authz));
  } catch (err) {
    const e = SpindleError.from(err);
    io.stderr(errorLine(e));
    throw new CliExit(EXIT_ERROR);
  }
  if (code !== EXIT_OK) throw new CliExit(code);
}
