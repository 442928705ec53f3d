// Builds the Workload API messages (Workload API standard, sections 5-6): x509_svid = leaf then
// intermediates as concatenated DER, keys PKCS#8 DER, X.509 bundles concatenated DER, JWT bundles
// JWKS JSON with a kid on every key, maps keyed `spiffe://<td>`. Map entries are inserted in
// sorted order so equal content always serialises to equal bytes (streams compare bytes).
import { create } from "@bufbuild/protobuf";
import { concatDer } from "../../common/pem.js";
import {
  JWTBundlesResponseSchema,
  X509BundlesResponseSchema,
  X509SVIDResponseSchema,
  type JWTBundlesResponse,
  type X509BundlesResponse,
  type X509SVIDResponse,
} from "../../gen/workload_pb.js";
import type { Bundle } from "../../spiffe/bundle.js";
import { encodeJwtBundleJwks, encodeX509BundleDer } from "../../spiffe/bundle-codec.js";
import { BundleSet } from "../../spiffe/bundle.js";
import type { TrustBundles, WorkloadIdentity } from "./contracts.js";

/**
 * The identities with duplicate SPIFFE IDs removed (first wins) and hints made unique: a hint
 * already used by an earlier identity is dropped (section 5: hints are unique per response).
 * `onDuplicate` lets the caller log what was dropped.
 */
export function uniqueIdentities(identities: readonly WorkloadIdentity[], onDuplicate?: (what: string) => void): WorkloadIdentity[] {
  const ids = new Set<string>();
  const hints = new Set<string>();
  const out: WorkloadIdentity[] = [];
  for (const identity of identities) {
    if (ids.has(identity.spiffeId)) {
      onDuplicate?.(`SPIFFE ID ${identity.spiffeId} of entry ${identity.entryId ?? "?"} (kept the first one)`);
      continue;
    }
    ids.add(identity.spiffeId);
    const hint = identity.hint ?? "";
    if (hint !== "" && hints.has(hint)) {
      onDuplicate?.(`hint "${hint}" on ${identity.spiffeId} (dropped; the first identity with it keeps it)`);
      out.push({ ...identity, hint: "" });
      continue;
    }
    if (hint !== "") hints.add(hint);
    out.push(identity);
  }
  return out;
}

function trustDomainOf(spiffeId: string): string {
  return new URL(spiffeId).host;
}

/** The own bundle plus the federated bundles that any of the caller's identities federates with. */
export function callerBundles(identities: readonly WorkloadIdentity[], trust: TrustBundles): Bundle[] {
  const own = trust.own.trustDomain.name;
  const names = new Set<string>();
  for (const identity of identities) for (const td of identity.federatesWith) if (td !== own) names.add(td);
  const federated = [...names].sort().flatMap((td) => {
    const bundle = trust.federated.get(td);
    return bundle === undefined ? [] : [bundle];
  });
  return [trust.own, ...federated];
}

/** The bundles a validator of this caller may use (own + federated), never pooled across domains. */
export function callerBundleSet(identities: readonly WorkloadIdentity[], trust: TrustBundles): BundleSet {
  return BundleSet.of(callerBundles(identities, trust));
}

export function buildX509SvidResponse(identities: readonly WorkloadIdentity[], trust: TrustBundles): X509SVIDResponse {
  const bundles = callerBundles(identities, trust);
  const byName = new Map(bundles.map((b) => [b.trustDomain.name, b]));
  const federatedBundles: Record<string, Uint8Array> = {};
  for (const b of bundles.slice(1)) federatedBundles[b.trustDomain.id()] = encodeX509BundleDer(b);
  return create(X509SVIDResponseSchema, {
    svids: identities.map((identity) => {
      // Each SVID carries the bundle of its own trust domain (an agent serves one trust domain).
      const bundle = byName.get(trustDomainOf(identity.spiffeId)) ?? trust.own;
      return {
        spiffeId: identity.spiffeId,
        x509Svid: concatDer(identity.x509Svid.certChainDer),
        x509SvidKey: identity.x509Svid.privateKeyPkcs8Der,
        bundle: encodeX509BundleDer(bundle),
        hint: identity.hint ?? "",
      };
    }),
    federatedBundles,
  });
}

export function buildX509BundlesResponse(identities: readonly WorkloadIdentity[], trust: TrustBundles): X509BundlesResponse {
  const bundles: Record<string, Uint8Array> = {};
  for (const b of callerBundles(identities, trust)) bundles[b.trustDomain.id()] = encodeX509BundleDer(b);
  return create(X509BundlesResponseSchema, { bundles });
}

export function buildJwtBundlesResponse(identities: readonly WorkloadIdentity[], trust: TrustBundles): JWTBundlesResponse {
  const bundles: Record<string, Uint8Array> = {};
  for (const b of callerBundles(identities, trust)) bundles[b.trustDomain.id()] = Buffer.from(encodeJwtBundleJwks(b));
  return create(JWTBundlesResponseSchema, { bundles });
}
