// One refresh of one relationship: fetch, check the document, and store it with a compare-and-set
// so concurrent writers (HA replicas polling the same endpoint, `spindle bundle set`) never replace
// a bundle with an older one. A refused document leaves the stored bundle untouched.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { pemToDers } from "../../common/pem.js";
import { SpindleError } from "../../common/errors.js";
import { decodeSpiffeBundle, encodeSpiffeBundle, parseTrustDomain, type Bundle } from "../../spiffe/index.js";
import type { Datastore } from "../datastore/index.js";
import { fetchBundleDocument, type FetchLimits, type FetchTarget } from "./fetch-bundle.js";
import { refused } from "./refusal.js";
import { endpointTrustDomain, type FederationRelationship } from "./relationship.js";

export type RefreshStore = Pick<Datastore, "getFederatedBundle" | "compareAndSetFederatedBundle">;

export interface RefreshResult {
  /** updated: stored; unchanged: same content as stored; superseded: another writer stored a newer one. */
  outcome: "updated" | "unchanged" | "superseded";
  /** The fetched bundle (its refresh hint schedules the next poll). */
  bundle: Bundle;
  /** Where the document finally came from (after redirects; never remembered). */
  url: string;
}

/** The stored bundle of `td`, decoded; undefined when absent or unreadable. */
export async function storedBundle(store: RefreshStore, td: string): Promise<{ raw: string; bundle?: Bundle } | undefined> {
  const rec = await store.getFederatedBundle(td);
  if (rec === undefined) return undefined;
  try {
    return { raw: rec.bundle, bundle: decodeSpiffeBundle(parseTrustDomain(td), rec.bundle) };
  } catch {
    return { raw: rec.bundle };
  }
}

async function targetOf(r: FederationRelationship, store: RefreshStore): Promise<FetchTarget> {
  if (r.profile === "https_spiffe") {
    // Section 5.2.2.4: the latest bundle of the endpoint SPIFFE ID's trust domain (the bootstrap
    // bundle only until the first fetch replaced it).
    const etd = endpointTrustDomain(r)!;
    const b = (await storedBundle(store, etd))?.bundle;
    if (b === undefined) throw refused("no_endpoint_bundle", `no bundle of "${etd}" is stored to authenticate ${r.endpointSpiffeId}; bootstrap the relationship with trust_domain_bundle_path`);
    return { url: r.bundleEndpointUrl, profile: r.profile, endpointSpiffeId: r.endpointSpiffeId, endpointBundle: b };
  }
  if (r.caFile === "") return { url: r.bundleEndpointUrl, profile: r.profile };
  let roots: Buffer[];
  try {
    // Read at every fetch so a replaced CA file takes effect without a restart.
    roots = pemToDers(readFileSync(r.caFile, "utf8"), "CERTIFICATE");
  } catch (err) {
    throw refused("ca_file", `ca_file ${r.caFile}: ${(err as Error).message}`, err);
  }
  return { url: r.bundleEndpointUrl, profile: r.profile, caCertificates: roots };
}

/** Checks the document as a SPIFFE bundle of `td` (SPIFFE_Trust_Domain_and_Bundle section 4). */
export function checkDocument(td: string, body: string): Bundle {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw refused("malformed_json", `the answer is not JSON: ${(err as Error).message}`, err);
  }
  let bundle: Bundle;
  try {
    bundle = decodeSpiffeBundle(parseTrustDomain(td), body);
  } catch (err) {
    throw refused("invalid_bundle", (err as Error).message, err);
  }
  // Keys with unknown kty/use are ignored; a non-empty `keys` of which none is usable is not a
  // bundle anyone meant to publish. An explicitly empty `keys` is accepted: it revokes every key.
  const declared = (doc as { keys: unknown[] }).keys.length;
  if (declared > 0 && bundle.x509Authorities.length === 0 && bundle.jwtAuthorities.size === 0) {
    throw refused("no_usable_keys", `none of the ${declared} keys is a usable x509-svid or jwt-svid key (unknown or missing kty/use); an empty "keys" array would be accepted as revocation`);
  }
  // A bundle whose CA certificates name another trust domain (URI SAN spiffe://<other>) is the
  // wrong document: bundles of different trust domains are never mixed (SPIFFE Federation 4.2).
  for (const der of bundle.x509Authorities) {
    const san = new X509Certificate(der).subjectAltName ?? "";
    for (const m of san.matchAll(/URI:(spiffe:\/\/[^/,\s]+)/g)) {
      if (m[1] !== `spiffe://${td}`) throw refused("wrong_trust_domain", `an X.509 authority names ${m[1]}, not spiffe://${td}: the endpoint serves another trust domain's bundle`);
    }
  }
  return bundle;
}

export async function refreshOnce(r: FederationRelationship, store: RefreshStore, limits: FetchLimits): Promise<RefreshResult> {
  const target = await targetOf(r, store);
  const { body, url } = await fetchBundleDocument(target, limits);
  const bundle = checkDocument(r.trustDomain, body);
  const next = encodeSpiffeBundle(bundle);
  // Compare-and-set: re-read and re-check after losing a race, at most a few times.
  for (let i = 0; i < 3; i++) {
    let current: Awaited<ReturnType<typeof storedBundle>>;
    try {
      current = await storedBundle(store, r.trustDomain);
    } catch (err) {
      throw refused("datastore", `cannot read the stored bundle: ${(err as Error).message}`, err);
    }
    const storedSeq = current?.bundle?.sequenceNumber;
    if (storedSeq !== undefined && bundle.sequenceNumber !== undefined && bundle.sequenceNumber < storedSeq) {
      if (i > 0) return { outcome: "superseded", bundle, url };
      throw refused("sequence_regressed", `spiffe_sequence ${bundle.sequenceNumber} is lower than the stored ${storedSeq}`);
    }
    if (current?.raw === next) return { outcome: "unchanged", bundle, url };
    let written: boolean;
    try {
      written = await store.compareAndSetFederatedBundle(r.trustDomain, current?.raw, next, r.source === "api");
    } catch (err) {
      throw err instanceof SpindleError && err.code === "ERR_FEDERATION_REFRESH_FAILED" ? err : refused("datastore", `cannot store the bundle: ${(err as Error).message}`, err);
    }
    if (written) return { outcome: "updated", bundle, url };
  }
  return { outcome: "superseded", bundle, url };
}
