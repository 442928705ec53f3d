// Resolves an SDS resource name for one caller (PROTOCOLS.md section 6, "Names"). Every name is
// resolved on its own: a SPIFFE ID the caller holds -> its SVID; the default alias -> the first
// SVID; `spiffe://<td>` -> that trust domain's bundle (own or federated with the caller);
// the root alias -> own bundle; the all alias -> own + federated bundles.
import { spindleError } from "../common/errors.js";
import { parseSpiffeId, type SpiffeId } from "../spiffe/spiffe-id.js";
import type { BuildCache } from "./build-cache.js";
import type { Caller, CallerBundles, SecretSource, TrustBundleMaterial } from "./contracts.js";
import { buildTlsCertificateSecret, buildValidationContextSecret, packSecret } from "./secret-builders.js";
import { ALL_BUNDLES_KEY, ENTITLEMENTS_KEY, bundleKey, svidKey, type ResolvedResource, type ResourceResolver } from "./xds-resource.js";

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
      throw spindleError("ERR_XDS_RESOURCE_DENIED", `secret "${name}": ${why}`, { details: { resource: name } });
    }
    const built = cache.get(material, name, [], () => packSecret(buildTlsCertificateSecret(name, material)));
    return { name, ...built, deps: [svidKey(material.spiffeId), ...deps] };
  }

  function bundles(name: string, anchor: TrustBundleMaterial, list: readonly TrustBundleMaterial[], deps: string[]): ResolvedResource {
    const built = cache.get(anchor, `${name}|${variant}`, list, () => packSecret(buildValidationContextSecret(name, list, { spiffeValidator })));
    return { name, ...built, deps };
  }

  function trustDomainBundle(name: string, id: SpiffeId, all: CallerBundles): ResolvedResource {
    const td = id.trustDomain.name;
    const bundle = [all.own, ...all.federated].find((b) => b.trustDomain === td);
    if (bundle === undefined) {
      throw spindleError("ERR_XDS_RESOURCE_NOT_FOUND", `secret "${name}": no bundle of trust domain ${td} is available to the caller`, {
        details: { resource: name },
      });
    }
    return bundles(name, bundle, [bundle], [bundleKey(td), ENTITLEMENTS_KEY]);
  }

  return {
    async resolve(name) {
      if (name === aliases.defaultSvid) return svid(name, undefined, [ENTITLEMENTS_KEY]);
      if (name === aliases.ownBundle) {
        const all = await source.bundlesFor(caller);
        return bundles(name, all.own, [all.own], [bundleKey(all.own.trustDomain)]);
      }
      if (name === aliases.allBundles) {
        const all = await source.bundlesFor(caller);
        return bundles(name, all.own, [all.own, ...all.federated], [ALL_BUNDLES_KEY, ENTITLEMENTS_KEY]);
      }
      let id: SpiffeId;
      try {
        id = parseSpiffeId(name);
      } catch (err) {
        throw spindleError(
          "ERR_XDS_RESOURCE_NOT_FOUND",
          `secret "${name}" is neither a SPIFFE ID nor one of ${aliases.defaultSvid}, ${aliases.ownBundle}, ${aliases.allBundles}`,
          { cause: err, details: { resource: name } },
        );
      }
      if (id.isRoot) return trustDomainBundle(name, id, await source.bundlesFor(caller));
      return svid(name, id.toString(), [ENTITLEMENTS_KEY]);
    },
  };
}
