// Adapter: the identity cache as the Workload API service's IdentitySource
// (src/agent/workload-api/contracts.ts). The lead wires `createWorkloadApiIdentitySource(cache)`
// into addWorkloadApi({ source }). Identity and bundle objects are passed through unchanged, so
// they keep their identity while their content does not change.
import type { IdentitySource, MintedJwtSvid, TrustBundles, WorkloadIdentity } from "../workload-api/contracts.js";
import type { Selector } from "../../spiffe/selector.js";
import type { IdentityCache } from "./identity-cache.js";

export function createWorkloadApiIdentitySource(cache: IdentityCache): IdentitySource {
  return {
    get ready() {
      return cache.ready;
    },
    identitiesFor: (selectors: readonly Selector[]): readonly WorkloadIdentity[] => cache.identitiesFor(selectors),
    bundles: (): TrustBundles => cache.bundles(),
    mintJwtSvid: (spiffeId: string, audience: readonly string[]): Promise<MintedJwtSvid> => cache.mintJwtSvid(spiffeId, audience),
    // Streams re-read everything on a change and send only when their bytes differ, so the
    // detail of the change is not needed here.
    onChange: (listener: () => void) => cache.onChange(() => listener()),
  };
}
