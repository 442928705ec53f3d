// Expectation tables for `spindle authz test` (docs/authz.md "Testing a policy"): each case is a
// request and the decision it must get. Loading reports every problem with file:line:column.
import type { Node as YamlNode } from "yaml";
import { parseSpiffeId } from "../spiffe/index.js";
import type { FilterKind } from "./envoy-json.js";
import { evaluate, type AccessRequest, type Decision } from "./evaluate.js";
import { findService, type Policy, type SourcePos } from "./model.js";
import { hasErrors, sortProblems, type Problem } from "./problems.js";
import { YamlReader } from "./yaml-reader.js";

export type Expectation = "allow" | "deny";

export interface TestCase {
  readonly name: string;
  readonly to: string;
  readonly request: AccessRequest;
  readonly filter: FilterKind;
  readonly expect: Expectation;
  /** Expected deciding rule name, when given. */
  readonly rule?: string;
  /** Shadow-mode services: the expected decision of the shadow rules, when given. */
  readonly shadow?: Expectation;
  readonly pos: SourcePos;
}

export interface CaseResult {
  readonly testCase: TestCase;
  readonly decision: Decision;
  /** Empty when the case passed. */
  readonly failures: string[];
}

const CASE_KEYS = ["name", "from", "to", "method", "path", "port", "headers", "filter", "expect", "rule", "shadow"];

/** Parses a cases file; services named in `to` are checked against `policy`. */
export function loadCases(text: string, file: string, policy: Policy): { cases?: TestCase[]; problems: Problem[] } {
  const r = new YamlReader(file, text);
  const cases: TestCase[] = [];
  if (!r.syntaxBroken) {
    const root = r.map(r.root, "the cases file", r.pos(null));
    const list = root && r.entries(root, ["cases"], "cases file").find((e) => e.key === "cases");
    if (root && !list) r.error(root, `missing "cases" (a list of requests with their expected decision)`);
    const seq = list && r.seq(list.value, "cases", list.keyNode);
    if (seq) r.items(seq).forEach((item, i) => readCase(r, item, i, policy, cases));
  }
  const problems = sortProblems(r.problems);
  return hasErrors(problems) ? { problems } : { cases, problems };
}

function readCase(r: YamlReader, item: YamlNode | null, i: number, policy: Policy, out: TestCase[]): void {
  const where = `cases[${i}]`;
  const map = r.map(item, where, r.pos(null));
  if (!map) return;
  const errorsBefore = r.problems.length;
  const f: Record<string, YamlNode | null> = {};
  for (const e of r.entries(map, CASE_KEYS, where)) f[e.key] = e.value;
  const str = (k: string) => (f[k] === undefined ? undefined : r.string(f[k] ?? null, `${where}.${k}`, map));
  const from = str("from");
  const to = str("to");
  const expect = str("expect");
  const filter = str("filter") ?? "http";
  const shadow = str("shadow");
  const port = f["port"] === undefined ? undefined : r.integer(f["port"] ?? null, `${where}.port`, map);
  const headers: Record<string, string> = {};
  if (f["headers"] !== undefined) {
    const hm = r.map(f["headers"] ?? null, `${where}.headers`, map);
    for (const e of hm ? r.entries(hm, [], `${where}.headers`) : []) {
      const v = r.string(e.value, `${where}.headers.${e.key}`, e.keyNode);
      if (v !== undefined) headers[e.key.toLowerCase()] = v;
    }
  }
  for (const k of ["from", "to", "expect"]) if (f[k] === undefined) r.error(map, `${where}: missing "${k}"`);
  if (from !== undefined) {
    try {
      parseSpiffeId(from);
    } catch (err) {
      r.error(f["from"], `${where}.from: ${(err as Error).message}`);
    }
  }
  if (to !== undefined && !findService(policy, to)) r.error(f["to"], `${where}.to: service "${to}" is not in ${policy.file}`);
  if (expect !== undefined && expect !== "allow" && expect !== "deny") r.error(f["expect"], `${where}.expect must be "allow" or "deny", got "${expect}"`);
  if (shadow !== undefined && shadow !== "allow" && shadow !== "deny") r.error(f["shadow"], `${where}.shadow must be "allow" or "deny", got "${shadow}"`);
  if (filter !== "http" && filter !== "network") r.error(f["filter"], `${where}.filter must be "http" or "network", got "${filter}"`);
  if (r.problems.length > errorsBefore || from === undefined || to === undefined) return;
  const method = str("method");
  const path = str("path");
  const rule = str("rule");
  const request: AccessRequest = { from, headers, ...(method === undefined ? {} : { method }), ...(path === undefined ? {} : { path }), ...(port === undefined ? {} : { port }) };
  out.push({
    name: str("name") ?? `${from} -> ${to}`,
    to,
    request,
    filter: filter as FilterKind,
    expect: expect as Expectation,
    pos: r.pos(map),
    ...(rule === undefined ? {} : { rule }),
    ...(shadow === undefined ? {} : { shadow: shadow as Expectation }),
  });
}

/** Runs every case; a case fails on any differing expectation. */
export function runCases(policy: Policy, cases: readonly TestCase[]): CaseResult[] {
  return cases.map((testCase) => {
    const service = findService(policy, testCase.to);
    if (!service) throw new TypeError(`runCases: service ${testCase.to} is not in the policy (load cases against this policy)`);
    const decision = evaluate(service, testCase.request, testCase.filter);
    const failures: string[] = [];
    const got = decision.allowed ? "allow" : "deny";
    if (got !== testCase.expect) failures.push(`expected ${testCase.expect}, got ${got}`);
    const deciding = decision.shadow ?? decision;
    if (testCase.rule !== undefined && deciding.rule?.name !== testCase.rule) {
      failures.push(`expected deciding rule ${testCase.rule}, got ${deciding.rule?.name ?? "none (default deny)"}`);
    }
    if (testCase.shadow !== undefined) {
      const shadowGot = decision.shadow ? (decision.shadow.allowed ? "allow" : "deny") : "none (service enforces)";
      if (shadowGot !== testCase.shadow) failures.push(`expected shadow ${testCase.shadow}, got ${shadowGot}`);
    }
    return { testCase, decision, failures };
  });
}
