// The compiler splits collapsed caller lists so each `safe_regex` stays under Envoy's RE2
// program-size limit (principals.ts estimates the size). This test measures every regex the
// compiler emits with RE2 itself (google-re2 from PyPI, installed into a venv beside this file,
// like the interop suite does with py-spiffe): the estimate must be an upper bound, the limit must
// hold, and RE2 must match exactly the callers each regex stands for.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { compileService, DEFAULT_MAX_REGEX_PROGRAM_SIZE, estimateRegexProgramSize, loadPolicy } from "../../src/authz/index.js";

const dir = fileURLToPath(new URL("./re2/", import.meta.url));
const venv = join(dir, "bin", "venv");
const python = join(venv, "bin", "python");

function run(cmd: string, args: string[], input?: string, timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${err.slice(-2000)}`));
    });
    child.stdin.end(input ?? "");
  });
}

/** Every `regex` string anywhere in a compiled filter (principals, headers, paths). */
function regexesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) regexesIn(v, out);
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "regex" && typeof v === "string") out.push(v);
      else regexesIn(v, out);
    }
  }
  return out;
}

// Callers that collapse into alternations: long names, shared prefixes, characters RE2 escapes.
const parents = ["spiffe://example.org/ns/fleet/sa/", "spiffe://example.org/ns/very-long-namespace-name.with.dots/sa/", "spiffe://partner_2.org/"];
const callers = parents.flatMap((p, i) => Array.from({ length: 120 + 40 * i }, (_, n) => `${p}client_${String(n).padStart(3, "0")}.${"x".repeat(n % 13)}-svc`));
const POLICY = `
version: 1
services:
  spiffe://example.org/ns/payments/sa/api:
    deny:
      - from: [${callers.filter((_, i) => i % 7 === 0).join(", ")}]
        methods: [DELETE]
    allow:
      - from: [${callers.join(", ")}]
        paths: [/v1/charges/*]
`;

test("every regex the compiler emits fits RE2's program-size limit, under our estimate, and matches exactly its callers", async () => {
  if (!existsSync(python)) await run("python3", ["-m", "venv", venv], undefined, 120_000);
  await run(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", join(dir, "requirements.txt")], undefined, 600_000);

  const { policy, problems } = loadPolicy(POLICY, "re2.yaml");
  assert.ok(policy, JSON.stringify(problems));
  const emitted = new Set<string>();
  const exact = new Set<string>();
  for (const filter of ["http", "network"] as const) {
    for (const f of compileService(policy.services[0]!, { filter }).filters) {
      for (const r of regexesIn(f)) emitted.add(r);
      for (const e of JSON.stringify(f).matchAll(/"exact":"(spiffe:[^"]+)"/g)) exact.add(e[1]!);
    }
  }
  const golden = fileURLToPath(new URL("./golden/", import.meta.url));
  for (const name of readdirSync(golden).filter((n) => !n.endsWith(".policy.yaml"))) {
    for (const r of regexesIn(parse(readFileSync(join(golden, name), "utf8")))) emitted.add(r);
  }
  assert.ok(emitted.size >= 20, `expected the caller list to collapse into many regexes, got ${emitted.size}`);

  // Probes: every caller, plus near misses (a suffix added, the last character dropped).
  const probes = [...callers, ...callers.map((c) => c + "x"), ...callers.map((c) => c.slice(0, -1))];
  const cases = [...emitted].map((regex) => ({ regex, probes }));
  const measured = JSON.parse(await run(python, [join(dir, "program_size.py")], JSON.stringify(cases))) as { size: number; matches: boolean[] }[];

  const matchedByRegex = new Set<string>();
  measured.forEach(({ size, matches }, i) => {
    const regex = cases[i]!.regex;
    assert.ok(size <= DEFAULT_MAX_REGEX_PROGRAM_SIZE, `RE2 program size ${size} > ${DEFAULT_MAX_REGEX_PROGRAM_SIZE}: ${regex}`);
    assert.ok(size <= estimateRegexProgramSize(regex), `estimate ${estimateRegexProgramSize(regex)} < RE2's ${size}: ${regex}`);
    // JavaScript's reading of the same regex (what our evaluator and the oracle use) agrees with RE2.
    const js = new RegExp(`^(?:${regex})$`);
    matches.forEach((m, j) => assert.equal(m, js.test(probes[j]!), `RE2 and JS disagree on ${probes[j]} for ${regex}`));
    matches.slice(0, callers.length).forEach((m, j) => m && matchedByRegex.add(callers[j]!));
  });
  // Every caller is matched by a regex or kept as an exact matcher; no near miss matches any regex.
  const lost = callers.filter((c) => !matchedByRegex.has(c) && !exact.has(c));
  assert.deepEqual(lost, [], "callers neither in a regex nor exact");
  assert.ok(matchedByRegex.size > callers.length / 2, `only ${matchedByRegex.size} callers collapsed into regexes`);
  for (const { matches } of measured) assert.ok(matches.slice(callers.length).every((m) => !m), "a near miss matched");
});
