// Adapter: the identity cache as the Workload API service's IdentitySource
// (src/agent/workload-api/contracts.ts). Identity and bundle objects are passed through unchanged,
// so they keep their identity while their content does not change. `reachability` tells a caller
// that matches entries without a valid SVID whether the server is the reason, and lets such a
// caller ask for an early retry of the server.
import type { IdentitySource, MintedJwtSvid, PendingIdentities, TrustBundles, WorkloadIdentity } from "../workload-api/contracts.js";
import type { Selector } from "../../spiffe/selector.js";
import type { IdentityCache } from "./identity-cache.js";

export interface ServerReachability {
  /** The sync loop's view; undefined before it runs. */
  status(): { readonly failingSince?: number; readonly lastError?: { readonly code: string } } | undefined;
  /** Retry the server now if it is failing (rate-limited by the sync loop). */
  nudge(): void;
}

export function createWorkloadApiIdentitySource(cache: IdentityCache, reachability?: ServerReachability): IdentitySource {
  return {
    get ready() {
      return cache.ready;
    },
    identitiesFor: (selectors: readonly Selector[]): readonly WorkloadIdentity[] => cache.identitiesFor(selectors),
    pendingFor(selectors: readonly Selector[]): PendingIdentities | undefined {
      const entries = cache.unservedFor(selectors);
      if (entries.length === 0) return undefined;
      const s = reachability?.status();
      if (s?.failingSince !== undefined) reachability!.nudge();
      return { entries, ...(s?.failingSince !== undefined ? { serverUnreachableSince: s.failingSince, serverError: s.lastError?.code } : {}) };
    },
    bundles: (): TrustBundles => cache.bundles(),
    mintJwtSvid: (spiffeId: string, audience: readonly string[]): Promise<MintedJwtSvid> => cache.mintJwtSvid(spiffeId, audience),
    // Streams re-read everything on a change and send only when their bytes differ, so the
    // detail of the change is not needed here.
    onChange: (listener: () => void) => cache.onChange(() => listener()),
  };
}
