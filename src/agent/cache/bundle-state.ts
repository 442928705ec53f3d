// The agent's trust bundles: its own trust domain's and every federated one the server sends.
// An unchanged bundle keeps its object identity across syncs (SDS caches built secrets by
// identity) and only trust domains whose content really changed are reported, so bundle streams
// stay quiet when nothing moved.
import { Buffer } from "node:buffer";
import type { Bundle } from "../../spiffe/bundle.js";
import type { SyncBundles } from "./server-client.js";

export interface BundleSnapshot {
  readonly own: Bundle;
  /** Keyed by trust domain name (no scheme). */
  readonly federated: ReadonlyMap<string, Bundle>;
}

export interface BundleState {
  /** Undefined until the first sync delivered bundles. */
  current(): BundleSnapshot | undefined;
  /** Applies the server's bundles; returns the trust domains added, changed or removed. */
  apply(next: SyncBundles): string[];
}

function jwksKey(b: Bundle): string {
  return JSON.stringify([...b.jwtAuthorities].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0)));
}

/** Same trust material and metadata. */
export function sameBundle(a: Bundle, b: Bundle): boolean {
  if (a.trustDomain.name !== b.trustDomain.name) return false;
  if (a.sequenceNumber !== b.sequenceNumber || a.refreshHintSeconds !== b.refreshHintSeconds) return false;
  if (a.x509Authorities.length !== b.x509Authorities.length) return false;
  if (!a.x509Authorities.every((d, i) => Buffer.from(d).equals(b.x509Authorities[i]!))) return false;
  return jwksKey(a) === jwksKey(b);
}

export function createBundleState(): BundleState {
  let snapshot: BundleSnapshot | undefined;
  return {
    current: () => snapshot,
    apply(next) {
      const changed: string[] = [];
      const keep = (prev: Bundle | undefined, incoming: Bundle): Bundle => {
        if (prev !== undefined && sameBundle(prev, incoming)) return prev;
        changed.push(incoming.trustDomain.name);
        return incoming;
      };
      const own = keep(snapshot?.own, next.own);
      const federated = new Map<string, Bundle>();
      for (const b of next.federated) {
        // The own trust domain is never also a federated one; a duplicate keeps the first.
        if (b.trustDomain.name === own.trustDomain.name || federated.has(b.trustDomain.name)) continue;
        federated.set(b.trustDomain.name, keep(snapshot?.federated.get(b.trustDomain.name), b));
      }
      for (const name of snapshot?.federated.keys() ?? []) if (!federated.has(name)) changed.push(name);
      if (changed.length > 0 || snapshot === undefined) snapshot = Object.freeze({ own, federated });
      return changed;
    },
  };
}
