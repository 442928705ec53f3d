// Selectors (`type:value`, e.g. `unix:uid:1000`, `k8s:ns:prod`) and the subset rule registration
// entries use: an entry matches a workload when every entry selector is among the workload's.
import { spindleError } from "../common/errors.js";
import { quote } from "./quote.js";

export interface Selector {
  readonly type: string;
  /** May itself contain colons (`uid:1000`). */
  readonly value: string;
}

function invalid(input: string, why: string): never {
  throw spindleError("ERR_SELECTOR_INVALID", `invalid selector ${quote(input)}: ${why}; expected "type:value"`, { details: { value: input } });
}

/** Parses `type:value`, splitting at the first colon. Throws ERR_SELECTOR_INVALID. */
export function parseSelector(text: string): Selector {
  if (typeof text !== "string") throw new TypeError("parseSelector: expected a string");
  const colon = text.indexOf(":");
  if (colon === -1) invalid(text, "no ':' separator");
  if (colon === 0) invalid(text, "type is empty");
  if (colon === text.length - 1) invalid(text, "value is empty");
  return Object.freeze({ type: text.slice(0, colon), value: text.slice(colon + 1) });
}

/** `type:value`. Refuses what parseSelector would not read back identically. */
export function formatSelector(selector: Selector): string {
  const text = `${selector.type}:${selector.value}`;
  if (selector.type === "") invalid(text, "type is empty");
  if (selector.type.includes(":")) invalid(text, "type contains ':'");
  if (selector.value === "") invalid(text, "value is empty");
  return text;
}

/** A workload's selectors, indexed once so each entry test is O(entry selectors). */
export class SelectorSet {
  readonly #keys: ReadonlySet<string>;

  constructor(selectors: Iterable<Selector>) {
    const keys = new Set<string>();
    for (const s of selectors) keys.add(formatSelector(s));
    this.#keys = keys;
  }

  has(selector: Selector): boolean {
    return this.#keys.has(formatSelector(selector));
  }

  get size(): number {
    return this.#keys.size;
  }
}

/**
 * True when every entry selector is present in the workload's selectors. An entry with no
 * selectors matches nothing: an empty list must never grant an identity to every workload.
 */
export function entryMatches(entrySelectors: readonly Selector[], workloadSelectors: SelectorSet | readonly Selector[]): boolean {
  if (entrySelectors.length === 0) return false;
  const set = workloadSelectors instanceof SelectorSet ? workloadSelectors : new SelectorSet(workloadSelectors);
  return entrySelectors.every((s) => set.has(s));
}
