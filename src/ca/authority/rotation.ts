// Authority rotation (docs/design/wire-facts.md, "Rotation and sync numbers"), shared by X.509 CAs
// and JWT signing keys:
//   prepare the next authority when min(lifetime/2, 30 d) of the active one remains,
//   activate it when min(lifetime/6, 7 d) remains; the old one stays published until it expires.
// A prepared authority is also never activated before it has been published for the publication
// lead (SPIFFE_Federation section 4.1: 3-5 times the bundle's spiffe_refresh_hint), so a peer
// polling the bundle endpoint holds it before the first SVID it signs exists; see
// docs/config/server.md ("Rotation timing and federation").
// Decisions are pure functions of the records and "now"; the caller performs them.
import type { AuthorityState } from "../contracts.js";

const DAY_MS = 86_400_000;

export interface Lifecycle {
  state: AuthorityState;
  notBefore: number;
  notAfter: number;
  tainted: boolean;
  preparedAt?: number;
}

/** How many refresh hints a new authority is published before it signs (lower end of section 4.1's 3-5). */
export const PUBLISH_HINT_MULTIPLE = 3;

/** The earliest moment activating `prepared` leaves peers `leadMs` to fetch it. */
export function safeActivationTime(prepared: Pick<Lifecycle, "notBefore" | "preparedAt">, leadMs: number): number {
  return (prepared.preparedAt ?? prepared.notBefore) + leadMs;
}

/** When the next authority is prepared, for an active authority. */
export function prepareTime(active: Pick<Lifecycle, "notBefore" | "notAfter">): number {
  const life = active.notAfter - active.notBefore;
  return active.notAfter - Math.min(life / 2, 30 * DAY_MS);
}

/** When the prepared authority replaces the active one. */
export function activateTime(active: Pick<Lifecycle, "notBefore" | "notAfter">): number {
  const life = active.notAfter - active.notBefore;
  return active.notAfter - Math.min(life / 6, 7 * DAY_MS);
}

export type RotationAction =
  | { kind: "expire"; index: number }
  | { kind: "demote"; index: number; reason: string }
  | { kind: "activate"; index: number }
  | { kind: "create-active" }
  | { kind: "prepare" };

/**
 * What to do now, in order. `usable(i)` says whether record i can sign (its key is loaded).
 * A prepared authority is only activated when it was prepared in an earlier pass, so it has been
 * published in the bundle before it signs (section 8), except when there is no active one at all.
 */
export function planRotation(records: readonly Lifecycle[], now: number, usable: (index: number) => boolean, leadMs = 0): RotationAction[] {
  const actions: RotationAction[] = [];
  const alive: number[] = [];
  records.forEach((r, i) => {
    if (r.notAfter <= now) actions.push({ kind: "expire", index: i });
    else alive.push(i);
  });
  let active: number | undefined;
  let prepared: number | undefined;
  for (const i of alive) {
    const r = records[i]!;
    if (r.state === "old") continue;
    if (r.tainted || !usable(i)) {
      actions.push({ kind: "demote", index: i, reason: r.tainted ? "tainted" : "its key is missing" });
    } else if (r.state === "active") {
      if (active === undefined) active = i;
      else actions.push({ kind: "demote", index: i, reason: "a second active authority" });
    } else if (prepared === undefined) prepared = i;
    else actions.push({ kind: "demote", index: i, reason: "a second prepared authority" });
  }
  if (active === undefined) {
    actions.push(prepared === undefined ? { kind: "create-active" } : { kind: "activate", index: prepared });
    return actions;
  }
  const a = records[active]!;
  if (prepared === undefined) {
    if (now >= prepareTime(a)) actions.push({ kind: "prepare" });
  } else if (now >= Math.max(activateTime(a), safeActivationTime(records[prepared]!, leadMs))) {
    actions.push({ kind: "activate", index: prepared });
  }
  return actions;
}

/** The earliest future moment at which planRotation would act, given no outside change. */
export function nextRotationEvent(records: readonly Lifecycle[], now: number, leadMs = 0): number {
  let next = Infinity;
  for (const r of records) {
    if (r.notAfter > now) next = Math.min(next, r.notAfter);
    if (r.state === "active") {
      const prepared = records.find((p) => p.state === "prepared");
      const t = prepared ? Math.max(activateTime(r), safeActivationTime(prepared, leadMs)) : prepareTime(r);
      if (t > now) next = Math.min(next, t);
    }
  }
  return next;
}
