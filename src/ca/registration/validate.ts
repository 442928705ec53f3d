// Entry validation: collects EVERY problem (field + message) before anything is stored.
import { spindleError } from "../../common/errors.js";
import { isKnownSelectorType, selectorKind, selectorProblem } from "../../spiffe/index.js";
import { serverSpiffeId, sortSelectors, selectorString, type EntryInput, type Selector } from "./entry.js";
import { spiffeIdProblem, trustDomainOf, trustDomainProblem } from "../../spiffe/spiffe-check.js";

export interface EntryLimits {
  /** The server's trust domain; SPIFFE and parent IDs must belong to it. */
  trustDomain: string;
  /** Seconds; entries may not ask for longer SVIDs (CA TTL / 6: docs/config/server.md). */
  maxX509SvidTtl: number;
  maxJwtSvidTtl: number;
}

export interface SelectorCheckOptions {
  /** Check selectors against the attestors' selector table (default true). */
  checkSelectors?: boolean;
  /** Accept selector types and keys the table does not list (attestors added later). */
  allowUnknownSelectors?: boolean;
}

export interface EntryProblem {
  field: string;
  message: string;
}

/** A validated, normalised entry body (sorted selectors, defaults filled in). */
export interface ValidEntry {
  spiffeId: string;
  parentId: string;
  selectors: Selector[];
  x509SvidTtl: number;
  jwtSvidTtl: number;
  dnsNames: string[];
  hint: string;
  federatesWith: string[];
  admin: boolean;
  expiresAt: number;
}

const DNS_LABEL_RE = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const MAX_HINT = 256;
const MAX_SELECTORS = 64;

export function validateEntryInput(input: EntryInput, limits: EntryLimits, options: SelectorCheckOptions = {}): ValidEntry {
  const problems = entryProblems(input, limits, options);
  if (problems.length > 0) throw entryInvalid(problems);
  return {
    spiffeId: input.spiffeId,
    parentId: input.parentId,
    selectors: sortSelectors(input.selectors.map((s) => ({ type: s.type, value: s.value }))),
    x509SvidTtl: input.x509SvidTtl ?? 0,
    jwtSvidTtl: input.jwtSvidTtl ?? 0,
    dnsNames: [...(input.dnsNames ?? [])],
    hint: input.hint ?? "",
    federatesWith: [...new Set(input.federatesWith ?? [])].sort(),
    admin: input.admin ?? false,
    expiresAt: input.expiresAt ?? 0,
  };
}

export function entryInvalid(problems: readonly EntryProblem[]) {
  const list = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  return spindleError("ERR_ENTRY_INVALID", `invalid registration entry: ${list}`, { details: { problems } });
}

export function entryProblems(input: EntryInput, limits: EntryLimits, options: SelectorCheckOptions = {}): EntryProblem[] {
  const problems: EntryProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  const td = limits.trustDomain;

  const idProblem = spiffeIdProblem(input.spiffeId, true);
  if (idProblem) add("spiffeId", idProblem);
  else if (trustDomainOf(input.spiffeId) !== td) add("spiffeId", `"${input.spiffeId}" is outside the trust domain "${td}"`);

  const parentProblem = spiffeIdProblem(input.parentId, true);
  if (parentProblem) add("parentId", parentProblem);
  else if (trustDomainOf(input.parentId) !== td) add("parentId", `"${input.parentId}" is outside the trust domain "${td}"`);
  if (!idProblem && input.spiffeId === input.parentId) add("parentId", "an entry cannot be its own parent");

  if (input.selectors.length === 0) add("selectors", "at least one selector is required");
  if (input.selectors.length > MAX_SELECTORS) add("selectors", `at most ${MAX_SELECTORS} selectors are allowed`);
  const seen = new Set<string>();
  input.selectors.forEach((s, i) => {
    if (!/^[A-Za-z0-9_.-]+$/.test(s.type)) add(`selectors[${i}].type`, `selector type "${s.type}" must be non-empty [A-Za-z0-9_.-]`);
    if (s.value === "") add(`selectors[${i}].value`, "selector value is empty");
    const key = selectorString(s);
    if (seen.has(key)) add(`selectors[${i}]`, `duplicate selector "${key}"`);
    seen.add(key);
    if (options.checkSelectors !== false && s.value !== "") selectorKindProblems(s, input.parentId, serverSpiffeId(td), options, (m) => add(`selectors[${i}]`, m));
  });

  ttlProblem("x509SvidTtl", input.x509SvidTtl, limits.maxX509SvidTtl, add);
  ttlProblem("jwtSvidTtl", input.jwtSvidTtl, limits.maxJwtSvidTtl, add);

  (input.dnsNames ?? []).forEach((name, i) => {
    const p = dnsNameProblem(name);
    if (p) add(`dnsNames[${i}]`, p);
  });
  if ((input.hint ?? "").length > MAX_HINT) add("hint", `hint is longer than ${MAX_HINT} characters`);
  (input.federatesWith ?? []).forEach((fd, i) => {
    const p = trustDomainProblem(fd);
    if (p) add(`federatesWith[${i}]`, p);
    else if (fd === td) add(`federatesWith[${i}]`, `"${fd}" is the server's own trust domain`);
  });
  const exp = input.expiresAt ?? 0;
  if (!Number.isSafeInteger(exp) || exp < 0) add("expiresAt", "must be a non-negative epoch-millisecond integer");
  return problems;
}

/**
 * A selector no attestor emits can never match: its type, key and value format are checked
 * against the attestors' table, and node selectors belong on node-alias entries (parent
 * spiffe://<td>/spindle/server) while workload selectors belong everywhere else.
 */
function selectorKindProblems(s: Selector, parentId: string, serverId: string, options: SelectorCheckOptions, add: (message: string) => void): void {
  const nodeAlias = parentId === serverId;
  const p = selectorProblem(s);
  if (p !== undefined && (p.kind === "bad-value" || options.allowUnknownSelectors !== true)) {
    add(p.kind === "bad-value" ? p.message : `${p.message} (to store it anyway, for an attestor Spindle does not know: --allow-unknown-selectors)`);
    return;
  }
  if (!isKnownSelectorType(s.type)) return;
  const kind = selectorKind(s.type);
  if (nodeAlias && kind === "workload") add(`selector "${selectorString(s)}": ${s.type} is a workload selector type; a node-alias entry (parent ${serverId}) matches agents by their node selectors`);
  if (!nodeAlias && kind === "node") add(`selector "${selectorString(s)}": ${s.type} is a node selector type; it only matches on a node-alias entry (parent ${serverId})`);
}

/** A DNS SAN: dot-separated LDH labels, optionally one leading `*.` wildcard label. */
export function dnsNameProblem(name: string): string | undefined {
  const labels = name.startsWith("*.") ? name.slice(2).split(".") : name.split(".");
  if (name.length > 253 || !labels.every((l) => DNS_LABEL_RE.test(l))) return `"${name}" is not a valid DNS name`;
  return undefined;
}

function ttlProblem(field: string, ttl: number | undefined, max: number, add: (f: string, m: string) => void): void {
  if (ttl === undefined) return;
  if (!Number.isSafeInteger(ttl) || ttl < 0) add(field, `TTL must be a non-negative whole number of seconds, got ${ttl}`);
  else if (ttl > max) add(field, `TTL ${ttl}s is above the maximum of ${max}s (CA TTL / 6)`);
}
