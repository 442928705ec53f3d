// Loads a policy file (docs/authz.md) into the model. Every problem is collected with its
// file:line:column; the policy is returned only when there is no error (warnings are allowed).
import { isSeq } from "yaml";
import type { Node as YamlNode, YAMLMap } from "yaml";
import { SpindleError } from "../common/errors.js";
import { requireWorkloadId } from "../spiffe/index.js";
import { parseCallerPattern } from "./caller-pattern.js";
import type { CallerPattern, HeaderMatch, Mode, PathMatch, Policy, Rule, RuleKind, Service, SourcePos } from "./model.js";
import { hasErrors, invalidFileError, sortProblems, type Problem } from "./problems.js";
import { YamlReader } from "./yaml-reader.js";

export interface LoadPolicyResult {
  /** Present only when there are no errors. */
  readonly policy?: Policy;
  /** Errors and warnings, sorted by position. */
  readonly problems: readonly Problem[];
}

/** The keys the file format allows at each level (docs/authz-policy.schema.json mirrors them). */
export const POLICY_KEYS = {
  root: ["version", "services"],
  service: ["mode", "description", "allow", "deny"],
  rule: ["from", "methods", "paths", "headers", "ports", "description"],
} as const;
const { root: ROOT_KEYS, service: SERVICE_KEYS, rule: RULE_KEYS } = POLICY_KEYS;
/** A listener name: what Envoy calls the listener the filters are installed on. */
export const LISTENER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** An HTTP method token, upper case as sent on the wire (methods are case-sensitive). */
export const METHOD = /^[A-Z][A-Z0-9_-]*$/;
/** An HTTP/2 header name (lower case token characters). */
export const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** Parses and validates policy text. `file` is used in every problem and in the model. */
export function loadPolicy(text: string, file: string): LoadPolicyResult {
  const r = new YamlReader(file, text);
  if (r.syntaxBroken) return { problems: sortProblems(r.problems) };
  const services: Service[] = [];
  const root = r.map(r.root, "the policy file", r.pos(null));
  if (root) {
    let sawServices = false;
    for (const e of r.entries(root, ROOT_KEYS, "policy")) {
      if (e.key === "version") {
        const v = r.integer(e.value, "version", e.keyNode);
        if (v !== undefined && v !== 1) r.error(e.value, `version ${v} is not supported (only 1)`);
      } else {
        sawServices = true;
        const map = r.map(e.value, "services", e.keyNode);
        if (map) services.push(...readServices(r, map));
      }
    }
    if (!sawServices) r.error(root, `policy: missing "services" (a mapping from service SPIFFE ID or listener name to its rules)`);
  }
  const problems = sortProblems(r.problems);
  if (hasErrors(problems)) return { problems };
  return { policy: { file, services }, problems };
}

/** Like loadPolicy, but throws ERR_AUTHZ_POLICY_INVALID listing every error (for the agent). */
export function requirePolicy(text: string, file: string): Policy {
  const { policy, problems } = loadPolicy(text, file);
  if (!policy) throw invalidFileError("ERR_AUTHZ_POLICY_INVALID", file, problems);
  return policy;
}

function readServices(r: YamlReader, map: YAMLMap): Service[] {
  const out: Service[] = [];
  const entries = r.entries(map, [], "services");
  if (entries.length === 0) r.warn(map, "services is empty: nothing to compile");
  for (const e of entries) {
    const pos = r.pos(e.keyNode);
    const kind = serviceKind(r, e.key, pos);
    const body = r.map(e.value, `service "${e.key}"`, e.keyNode);
    if (!body) continue;
    let mode: Mode = "enforce";
    let description: string | undefined;
    let allow: Rule[] = [];
    let deny: Rule[] = [];
    let sawAllow = false;
    for (const f of r.entries(body, SERVICE_KEYS, `service "${e.key}"`)) {
      if (f.key === "mode") {
        const m = r.string(f.value, "mode", f.keyNode);
        if (m === "enforce" || m === "shadow") mode = m;
        else if (m !== undefined) r.error(f.value, `mode must be "enforce" or "shadow", got "${m}"`);
      } else if (f.key === "description") {
        description = r.string(f.value, "description", f.keyNode);
      } else {
        const rules = readRules(r, f.value, f.keyNode, e.key, f.key as RuleKind);
        if (f.key === "allow") {
          sawAllow = true;
          allow = rules;
        } else deny = rules;
      }
    }
    if (kind && !sawAllow) {
      r.warn(e.keyNode, `service "${e.key}" allows nobody: every request is denied (write "allow: []" to make that explicit)`);
    }
    // A bad key is already an error; its body was still checked so every problem shows at once.
    if (kind) out.push({ key: e.key, kind, mode, allow, deny, pos, ...(description === undefined ? {} : { description }) });
  }
  return out;
}

function serviceKind(r: YamlReader, key: string, pos: SourcePos): Service["kind"] | undefined {
  if (key.startsWith("spiffe://") || key.includes(":")) {
    try {
      requireWorkloadId(key);
      return "spiffe-id";
    } catch (err) {
      const why = err instanceof SpindleError ? `${err.message} (${err.code})` : String(err);
      const hint = key.includes("*") ? " (a service is one workload, not a pattern)" : "";
      r.error(pos, `service "${key}" is not a workload SPIFFE ID${hint}: ${why}`);
      return undefined;
    }
  }
  if (LISTENER_NAME.test(key)) return "listener";
  r.error(pos, `service "${key}" must be a workload SPIFFE ID or a listener name (letters, digits, "._-", at most 128)`);
  return undefined;
}

function readRules(r: YamlReader, node: YamlNode | null, near: YamlNode, service: string, kind: RuleKind): Rule[] {
  const seq = r.seq(node, kind, near);
  if (!seq) return [];
  const rules: Rule[] = [];
  r.items(seq).forEach((item, index) => {
    const where = `${kind}[${index}]`;
    const map = r.map(item, where, seq);
    if (!map) return;
    const pos = r.pos(map);
    let callers: CallerPattern[] = [];
    let methods: string[] = [];
    let paths: PathMatch[] = [];
    let headers: HeaderMatch[] = [];
    let ports: number[] = [];
    let description: string | undefined;
    let sawFrom = false;
    for (const f of r.entries(map, RULE_KEYS, where)) {
      const at = `${where}.${f.key}`;
      if (f.key === "from") {
        sawFrom = true;
        callers = readList(r, f.value, f.keyNode, at, (n) => readCaller(r, n, at));
        const v = r.resolve(f.value);
        if (v && isSeq(v) && v.items.length === 0) r.error(v, `${at} is empty: name at least one caller`);
      } else if (f.key === "methods") methods = readList(r, f.value, f.keyNode, at, (n) => readMethod(r, n, at));
      else if (f.key === "paths") paths = readList(r, f.value, f.keyNode, at, (n) => readPath(r, n, at));
      else if (f.key === "ports") ports = readList(r, f.value, f.keyNode, at, (n) => readPort(r, n, at));
      else if (f.key === "headers") headers = readHeaders(r, f.value, f.keyNode, at);
      else description = r.string(f.value, at, f.keyNode);
    }
    if (!sawFrom) r.error(map, `${where}: missing "from" (the callers this rule applies to)`);
    const name = `${service}:${kind}-${index}`;
    const exactCallers = new Set(callers.filter((c) => c.kind === "exact").map((c) => c.value));
    const prefixCallers = callers.filter((c) => c.kind !== "exact").map((c) => c.value);
    const optional = description === undefined ? {} : { description };
    rules.push({ kind, index, name, callers, exactCallers, prefixCallers, methods, paths, headers, ports, pos, ...optional });
  });
  return rules;
}

/** Reads a list, reporting duplicates (by their text) as warnings. */
function readList<T>(r: YamlReader, node: YamlNode | null, near: YamlNode, at: string, one: (n: YamlNode | null) => { key: string; value: T } | undefined): T[] {
  const seq = r.seq(node, at, near);
  if (!seq) return [];
  const out: T[] = [];
  const seen = new Set<string>();
  for (const item of r.items(seq)) {
    const v = one(item ?? null);
    if (!v) continue;
    if (seen.has(v.key)) {
      r.warn(item, `${at}: "${v.key}" is listed twice`);
      continue;
    }
    seen.add(v.key);
    out.push(v.value);
  }
  return out;
}

function readCaller(r: YamlReader, n: YamlNode | null, at: string): { key: string; value: CallerPattern } | undefined {
  const text = r.string(n, `${at} entry`);
  if (text === undefined) return undefined;
  const parsed = parseCallerPattern(text, r.pos(n));
  if (!parsed.ok) {
    r.error(n, `${at}: ${parsed.message}`);
    return undefined;
  }
  return { key: text, value: parsed.pattern };
}

function readMethod(r: YamlReader, n: YamlNode | null, at: string): { key: string; value: string } | undefined {
  const m = r.string(n, `${at} entry`);
  if (m === undefined) return undefined;
  if (!METHOD.test(m)) {
    r.error(n, `${at}: "${m}" is not an HTTP method (upper case, e.g. GET, POST; methods are case-sensitive)`);
    return undefined;
  }
  return { key: m, value: m };
}

function readPath(r: YamlReader, n: YamlNode | null, at: string): { key: string; value: PathMatch } | undefined {
  const p = r.string(n, `${at} entry`);
  if (p === undefined) return undefined;
  const prefix = p.endsWith("*");
  const value = prefix ? p.slice(0, -1) : p;
  let why: string | undefined;
  if (!value.startsWith("/")) why = "must start with '/'";
  else if (value.includes("*")) why = "'*' is only allowed at the end (a prefix)";
  else if (/[?#]/.test(value)) why = "must not contain a query or fragment (url_path matching ignores the query)";
  else if (/[\s\u0000-\u001f\u007f]/.test(value)) why = "must not contain whitespace or control characters";
  if (why) {
    r.error(n, `${at}: path "${p}" ${why}`);
    return undefined;
  }
  return { key: p, value: { kind: prefix ? "prefix" : "exact", value, text: p } };
}

function readPort(r: YamlReader, n: YamlNode | null, at: string): { key: string; value: number } | undefined {
  const port = r.integer(n, `${at} entry`);
  if (port === undefined) return undefined;
  if (port < 1 || port > 65535) {
    r.error(n, `${at}: port ${port} is out of range (1-65535)`);
    return undefined;
  }
  return { key: String(port), value: port };
}

function readHeaders(r: YamlReader, node: YamlNode | null, near: YamlNode, at: string): HeaderMatch[] {
  const map = r.map(node, at, near);
  if (!map) return [];
  const out: HeaderMatch[] = [];
  for (const e of r.entries(map, [], at)) {
    const value = r.string(e.value, `${at}.${e.key}`, e.keyNode);
    let why: string | undefined;
    if (e.key.startsWith(":")) why = "pseudo-headers are not allowed here (use methods and paths)";
    else if (!HEADER_NAME.test(e.key)) why = "is not a lower-case HTTP header name";
    if (why) r.error(e.keyNode, `${at}: header "${e.key}" ${why}`);
    if (why || value === undefined) continue;
    if (value === "*") out.push({ name: e.key, kind: "present", value: "", text: value });
    else if (value.endsWith("*")) out.push({ name: e.key, kind: "prefix", value: value.slice(0, -1), text: value });
    else out.push({ name: e.key, kind: "exact", value, text: value });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
