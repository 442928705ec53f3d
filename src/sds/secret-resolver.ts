// Resolves an SDS resource name for one caller (docs/sds.md, "Resource names"). Every name is
// resolved on its own: a SPIFFE ID the caller holds -> its SVID; the default alias -> the first
// SVID; `spiffe://<td>` -> that trust domain's bundle (own or federated with the caller);
// the root alias -> own bundle; the all alias -> own + federated bundles.
import { SpindleError } from "../common/errors.js";
import { parseSpiffeId, type SpiffeId } from "../spiffe/spiffe-id.js";
import type { BuildCache } from "./build-cache.js";
import type { Caller, CallerBundles, SecretSource, TrustBundleMaterial } from "./contracts.js";
import { buildTlsCertificateSecret, buildValidationContextSecret, packSecret } from "./secret-builders.js";
import { ALL_BUNDLES_KEY, ANY_SVID_KEY, ENTITLEMENTS_KEY, bundleKey, svidKey, unavailable, type ResolvedResource, type ResourceResolver } from "./xds-resource.js";

/** The special resource names; configurable so existing Envoy configs keep working. */
export interface SecretAliases {
  /** The caller's default (first) SVID. Default `default`. */
  readonly defaultSvid: string;
  /** The bundle of the agent's own trust domain. Default `ROOTCA`. */
  readonly ownBundle: string;
  /** Own plus federated bundles. Default `ALL`. */
  readonly allBundles: string;
}

export const DEFAULT_SECRET_ALIASES: SecretAliases = Object.freeze({ defaultSvid: "default", ownBundle: "ROOTCA", allBundles: "ALL" });

export interface SecretResolverOptions {
  source: SecretSource;
  caller: Caller;
  aliases: SecretAliases;
  /** SPIFFE validator (true) or trusted_ca fallback (false) for validation contexts. */
  spiffeValidator: boolean;
  cache: BuildCache;
}

export function createSecretResolver(options: SecretResolverOptions): ResourceResolver {
  const { source, caller, aliases, spiffeValidator, cache } = options;
  const variant = spiffeValidator ? "spiffe" : "trusted_ca";

  async function svid(name: string, id: string | undefined, deps: string[]): Promise<ResolvedResource> {
    const svids = await source.svidsFor(caller);
    const material = id === undefined ? svids[0] : svids.find((s) => s.spiffeId === id);
    if (material === undefined) {
      const why = id === undefined ? "the caller has no SVID" : `the caller is not entitled to ${id}`;
      // An entry registered later changes the entitlements, and its SVID is issued a moment
      // after: the name is resolved again on either.
      throw unavailable("ERR_XDS_RESOURCE_DENIED", name, `secret "${name}": ${why}`, [...deps, id === undefined ? ANY_SVID_KEY : svidKey(id)]);
    }
    const built = cache.get(material, name, [], () => packSecret(buildTlsCertificateSecret(name, material)));
    return { name, ...built, deps: [svidKey(material.spiffeId), ...deps] };
  }

  function bundles(name: string, anchor: TrustBundleMaterial, list: readonly TrustBundleMaterial[], deps: string[]): ResolvedResource {
    try {
      const built = cache.get(anchor, `${name}|${variant}`, list, () => packSecret(buildValidationContextSecret(name, list, { spiffeValidator })));
      return { name, ...built, deps };
    } catch (err) {
      // A bundle without X.509 authorities yet: served once the bundle changes.
      if (SpindleError.is(err, "ERR_XDS_RESOURCE_NOT_FOUND")) throw unavailable("ERR_XDS_RESOURCE_NOT_FOUND", name, err.message, deps, err);
      throw err;
    }
  }

  function trustDomainBundle(name: string, id: SpiffeId, all: CallerBundles): ResolvedResource {
    const td = id.trustDomain.name;
    const bundle = [all.own, ...all.federated].find((b) => b.trustDomain === td);
    if (bundle === undefined) {
      throw unavailable("ERR_XDS_RESOURCE_NOT_FOUND", name, `secret "${name}": no bundle of trust domain ${td} is available to the caller`, [
        bundleKey(td),
        ENTITLEMENTS_KEY,
      ]);
    }
    return bundles(name, bundle, [bundle], [bundleKey(td), ENTITLEMENTS_KEY]);
  }

  // Like the Workload API, bundles go to registered workloads only (docs/sds.md, "Callers without
  // an entry"): a caller without any SVID gets nothing, until an entry for it syncs.
  async function callerBundles(name: string): Promise<CallerBundles> {
    if ((await source.svidsFor(caller)).length === 0) {
      throw unavailable("ERR_XDS_RESOURCE_DENIED", name, `secret "${name}": the caller has no registration entry; bundles are served to registered workloads only`, [
        ENTITLEMENTS_KEY,
        ANY_SVID_KEY,
      ]);
    }
    return source.bundlesFor(caller);
  }

  return {
    async resolve(name) {
      if (name === aliases.defaultSvid) return svid(name, undefined, [ENTITLEMENTS_KEY]);
      if (name === aliases.ownBundle) {
        const all = await callerBundles(name);
        return bundles(name, all.own, [all.own], [bundleKey(all.own.trustDomain), ENTITLEMENTS_KEY]);
      }
      if (name === aliases.allBundles) {
        const all = await callerBundles(name);
        return bundles(name, all.own, [all.own, ...all.federated], [ALL_BUNDLES_KEY, ENTITLEMENTS_KEY]);
      }
      let id: SpiffeId;
      try {
        id = parseSpiffeId(name);
      } catch (err) {
        // Never resolves on this agent (its aliases are fixed at start): no change keys.
        throw unavailable(
          "ERR_XDS_RESOURCE_NOT_FOUND",
          name,
          `secret "${name}" is neither a SPIFFE ID nor one of ${aliases.defaultSvid}, ${aliases.ownBundle}, ${aliases.allBundles}`,
          [],
          err,
        );
      }
      if (id.isRoot) return trustDomainBundle(name, id, await callerBundles(name));
      return svid(name, id.toString(), [ENTITLEMENTS_KEY]);
    },
  };
}
