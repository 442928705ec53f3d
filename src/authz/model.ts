// The validated policy model: what a policy file means once every problem has been ruled out.
// Loading (policy-load.ts) produces it; the compiler, the evaluator and the linter consume it.

/** 1-based position of a value in its source file. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/**
 * A caller pattern (docs/authz.md "Callers"):
 * - `exact`: one workload ID, `spiffe://td/a/b`;
 * - `prefix`: every ID under a path, `spiffe://td/ns/payments/*` (matches IDs starting with
 *   `spiffe://td/ns/payments/`);
 * - `trust-domain`: every workload of a trust domain, `spiffe://td/*`.
 */
export interface CallerPattern {
  readonly kind: "exact" | "prefix" | "trust-domain";
  readonly trustDomain: string;
  /** The pattern as written in the file. */
  readonly text: string;
  /** `exact`: the full ID. `prefix`/`trust-domain`: the string prefix, always ending in `/`. */
  readonly value: string;
  readonly pos: SourcePos;
}

/** A path condition: `/v1/charges` is exact, `/v1/refunds/*` is the prefix `/v1/refunds/`. */
export interface PathMatch {
  readonly kind: "exact" | "prefix";
  readonly value: string;
  readonly text: string;
}

/** A header condition: exact value, prefix (`abc*`) or presence (`*`). */
export interface HeaderMatch {
  readonly name: string;
  readonly kind: "exact" | "prefix" | "present";
  readonly value: string;
  readonly text: string;
}

export type RuleKind = "allow" | "deny";

export interface Rule {
  readonly kind: RuleKind;
  /** Position of the rule in its service's `allow` or `deny` list. */
  readonly index: number;
  /** `<service>:<kind>-<index>`: the Envoy policy name and the name `check` reports. */
  readonly name: string;
  readonly description?: string;
  readonly callers: readonly CallerPattern[];
  /** The callers indexed for matching: exact IDs, and the prefixes of the wildcard patterns. */
  readonly exactCallers: ReadonlySet<string>;
  readonly prefixCallers: readonly string[];
  /** Empty means "any" for each condition list. */
  readonly methods: readonly string[];
  readonly paths: readonly PathMatch[];
  /** Every header condition must hold. */
  readonly headers: readonly HeaderMatch[];
  readonly ports: readonly number[];
  readonly pos: SourcePos;
}

export type Mode = "enforce" | "shadow";

export interface Service {
  /** The callee's SPIFFE ID or a listener name, as written. */
  readonly key: string;
  readonly kind: "spiffe-id" | "listener";
  readonly mode: Mode;
  readonly description?: string;
  readonly allow: readonly Rule[];
  readonly deny: readonly Rule[];
  readonly pos: SourcePos;
}

export interface Policy {
  readonly file: string;
  /** In file order. */
  readonly services: readonly Service[];
}

/** True when a rule has a condition only an HTTP filter can evaluate. */
export function hasHttpConditions(rule: Rule): boolean {
  return rule.methods.length > 0 || rule.paths.length > 0 || rule.headers.length > 0;
}

/** True when one of `names` (the caller's URI SANs) matches one of the rule's callers. */
export function callerMatches(rule: Rule, names: readonly string[]): boolean {
  for (const n of names) {
    if (rule.exactCallers.has(n)) return true;
    for (const p of rule.prefixCallers) if (n.startsWith(p)) return true;
  }
  return false;
}

export function findService(policy: Policy, key: string): Service | undefined {
  return policy.services.find((s) => s.key === key);
}
