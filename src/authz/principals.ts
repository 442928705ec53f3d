// Collapses a rule's caller list into few `authenticated.principal_name` matchers
// (docs/design/wire-facts.md, "Envoy RBAC and ECDS"): patterns covered by a broader one are
// dropped, every trust-domain or path wildcard becomes one `prefix` matcher anchored on
// `spiffe://<td>/`, and exact IDs sharing a parent path become one `safe_regex`
// `spiffe://td/parent/(?:a|b)`, split so each regex stays under Envoy's RE2 program-size limit.
// Lone IDs stay `exact`: regex only where it saves matchers.
import type { PrincipalJson, StringMatcherJson } from "./envoy-json.js";
import type { CallerPattern } from "./model.js";

/** Envoy's default `re2.max_program_size.error_level`: larger regexes are rejected. */
export const DEFAULT_MAX_REGEX_PROGRAM_SIZE = 100;

/**
 * An upper bound of the RE2 program size of the regexes built here: they are ASCII literals,
 * escapes and non-capturing alternations, each character costing at most one instruction, plus
 * a fixed allowance for the match, capture and unanchored-search instructions RE2 adds.
 */
export function estimateRegexProgramSize(regex: string): number {
  return regex.length + 8;
}

export function escapeRegex(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

/** The smallest set of patterns matching the same names: covered patterns are removed. */
export function minimalPatterns(callers: readonly CallerPattern[]): CallerPattern[] {
  const sorted = [...callers].sort((a, b) => cmp(a.value, b.value));
  const out: CallerPattern[] = [];
  // In sorted order every value a prefix covers follows it directly, so one pass suffices.
  let cover: string | undefined;
  for (const p of sorted) {
    if (cover !== undefined && p.value.startsWith(cover)) continue;
    if (out.length > 0 && out[out.length - 1]!.value === p.value) continue;
    out.push(p);
    cover = p.kind === "exact" ? cover : p.value;
  }
  return out;
}

/** String matchers for `principal_name`, in a deterministic order. */
export function callerMatchers(callers: readonly CallerPattern[], maxProgramSize = DEFAULT_MAX_REGEX_PROGRAM_SIZE): StringMatcherJson[] {
  const keyed: { key: string; matcher: StringMatcherJson }[] = [];
  const groups = new Map<string, string[]>();
  for (const p of minimalPatterns(callers)) {
    if (p.kind !== "exact") {
      keyed.push({ key: p.value, matcher: { prefix: p.value } });
      continue;
    }
    const cut = p.value.lastIndexOf("/") + 1;
    const parent = p.value.slice(0, cut);
    const leaves = groups.get(parent) ?? [];
    leaves.push(p.value.slice(cut));
    groups.set(parent, leaves);
  }
  for (const [parent, leaves] of groups) {
    for (const chunk of chunkLeaves(parent, leaves, maxProgramSize)) {
      const key = parent + chunk[0]!;
      if (chunk.length === 1) keyed.push({ key, matcher: { exact: key } });
      else keyed.push({ key, matcher: { safe_regex: { regex: alternation(parent, chunk) } } });
    }
  }
  return keyed.sort((a, b) => cmp(a.key, b.key)).map((k) => k.matcher);
}

export function callerPrincipals(callers: readonly CallerPattern[], maxProgramSize?: number): PrincipalJson[] {
  return callerMatchers(callers, maxProgramSize).map((m) => ({ authenticated: { principal_name: m } }));
}

/** `parent` + `(?:a|b)`, with the leaves' common prefix moved out of the group (`client-(?:01|02)`). */
function alternation(parent: string, leaves: readonly string[]): string {
  let common = leaves[0] ?? "";
  for (const leaf of leaves) {
    let i = 0;
    while (i < common.length && i < leaf.length - 1 && common[i] === leaf[i]) i++;
    common = common.slice(0, i);
  }
  const rest = leaves.map((l) => escapeRegex(l.slice(common.length)));
  return `${escapeRegex(parent + common)}(?:${rest.join("|")})`;
}

/** Greedy split of sorted leaves into runs whose regex fits the program-size budget. */
function chunkLeaves(parent: string, leaves: string[], maxProgramSize: number): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  for (const leaf of [...leaves].sort(cmp)) {
    const candidate = [...current, leaf];
    if (current.length > 0 && estimateRegexProgramSize(alternation(parent, candidate)) > maxProgramSize) {
      chunks.push(current);
      current = [leaf];
    } else current = candidate;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
