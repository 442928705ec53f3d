// Adapter: the identity cache as SDS's SecretSource (src/sds/contracts.ts). SVID material objects
// are memoised per cached identity, and bundle objects per cached bundle, because SDS caches the
// secrets it builds by object identity: a rotation yields new objects, nothing else does. Until
// the agent's first sync, every lookup throws ERR_WORKLOAD_API_NOT_READY (gRPC UNAVAILABLE): SDS
// ends the stream with it and Envoy retries, rather than being told the caller has no identity.
import { spindleError } from "../../common/errors.js";
import type { Bundle } from "../../spiffe/bundle.js";
import { parseSelector } from "../../spiffe/selector.js";
import type { CallerBundles, SecretSource, TrustBundleMaterial, X509SvidMaterial } from "../../sds/contracts.js";
import type { CachedIdentity, IdentityCache } from "./identity-cache.js";

export function createSdsSecretSource(cache: IdentityCache): SecretSource {
  const svidMaterial = new WeakMap<CachedIdentity, X509SvidMaterial>();
  const bundleMaterial = new WeakMap<Bundle, TrustBundleMaterial>();

  const materialOf = (identity: CachedIdentity): X509SvidMaterial => {
    let m = svidMaterial.get(identity);
    if (m === undefined) {
      m = Object.freeze({ spiffeId: identity.spiffeId, certChainDer: identity.x509Svid.certChainDer, privateKeyPkcs8Der: identity.x509Svid.privateKeyPkcs8Der });
      svidMaterial.set(identity, m);
    }
    return m;
  };
  const bundleOf = (bundle: Bundle): TrustBundleMaterial => {
    let m = bundleMaterial.get(bundle);
    if (m === undefined) {
      m = Object.freeze({ trustDomain: bundle.trustDomain.name, x509AuthoritiesDer: bundle.x509Authorities });
      bundleMaterial.set(bundle, m);
    }
    return m;
  };
  const identitiesOf = (selectors: readonly string[]) => {
    if (!cache.ready) throw spindleError("ERR_WORKLOAD_API_NOT_READY", "the agent has not completed its first sync with the server yet; retry");
    return cache.identitiesFor(selectors.map(parseSelector));
  };

  return {
    svidsFor: (caller) => identitiesOf(caller.selectors).map(materialOf),
    bundlesFor(caller): CallerBundles {
      const { own, federated } = cache.bundles();
      // A workload sees the federated bundles its entries federate with, nothing more.
      const wanted = new Set(identitiesOf(caller.selectors).flatMap((i) => i.federatesWith));
      const fed = [...federated].filter(([td]) => wanted.has(td)).map(([, b]) => bundleOf(b));
      return { own: bundleOf(own), federated: fed };
    },
    onChange: (listener) =>
      cache.onChange((change) => listener({ svids: change.spiffeIds, trustDomains: change.trustDomains, entitlements: change.entitlements || change.ready })),
  };
}
