// Shared by the authority tests (not part of the module surface): a CA on a fake clock with
// memory stores, and a chain check against a bundle made only of node:crypto calls.
import assert from "node:assert/strict";
import { X509Certificate, generateKeyPairSync } from "node:crypto";
import { createFakeClock, type FakeClock } from "./fake-clock.js";
import { createBundle, createBundleSet, parseTrustDomain, validateJwtSvid, validateX509Svid } from "../../src/spiffe/index.js";
import type { KeyManager, OwnBundleContents } from "../../src/ca/contracts.js";
import { createMemoryKeyManager } from "../../src/ca/keys/index.js";
import { createCertificateAuthority, createMemoryJournalStore, type CertificateAuthorityOptions, type MemoryJournalStore } from "../../src/ca/authority/index.js";

export const TD = "example.org";
export const START = Date.UTC(2026, 0, 1, 0, 0, 0);

export interface Harness {
  clock: FakeClock;
  keyManager: KeyManager;
  journalStore: MemoryJournalStore;
  options: CertificateAuthorityOptions;
}

export function harness(overrides: Partial<CertificateAuthorityOptions> = {}): Harness {
  const clock = createFakeClock(START);
  const keyManager = createMemoryKeyManager();
  const journalStore = createMemoryJournalStore();
  return {
    clock,
    keyManager,
    journalStore,
    options: { trustDomain: TD, serverId: "server-a", keyManager, journalStore, clock, ...overrides },
  };
}

export const newCa = (h: Harness, overrides: Partial<CertificateAuthorityOptions> = {}) => createCertificateAuthority({ ...h.options, ...overrides });

export const workloadKey = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;

/**
 * RFC 5280-style path check with node:crypto: each certificate is issued (name) and signed by
 * the next, the last by one of the bundle's authorities, and all are valid at `now`.
 */
export function assertChainsToBundle(chain: readonly Buffer[], bundle: OwnBundleContents, now: number): X509Certificate {
  const certs = chain.map((d) => new X509Certificate(d));
  const within = (c: X509Certificate, what: string) => {
    assert.ok(Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo), `${what} valid at ${new Date(now).toISOString()} (${c.validFrom} .. ${c.validTo})`);
  };
  certs.forEach((c, i) => {
    within(c, `chain[${i}]`);
    const parent = certs[i + 1];
    if (parent !== undefined) {
      assert.ok(c.checkIssued(parent) && c.verify(parent.publicKey), `chain[${i}] issued by chain[${i + 1}]`);
      assert.ok(parent.ca, `chain[${i + 1}] is a CA`);
    }
  });
  const last = certs[certs.length - 1]!;
  const root = bundle.x509Authorities.map((d) => new X509Certificate(d)).find((r) => last.checkIssued(r) && last.verify(r.publicKey));
  assert.ok(root, "the chain ends at an authority of the bundle");
  within(root, "bundle authority");
  return root;
}

/** The SPIFFE core's own validators (src/spiffe) accept the SVIDs against the CA's bundle at `now`. */
export async function assertSpiffeValid(bundle: OwnBundleContents, now: number, svids: { x509?: readonly Buffer[]; jwt?: { token: string; audience: string } }) {
  const bundles = createBundleSet([
    createBundle({
      trustDomain: parseTrustDomain(TD),
      x509Authorities: bundle.x509Authorities,
      jwtAuthorities: bundle.jwtAuthorities.map((a) => [a.kid, a.publicKeyJwk] as const),
    }),
  ]);
  if (svids.x509) validateX509Svid(svids.x509, bundles, { now });
  if (svids.jwt) await validateJwtSvid(svids.jwt.token, bundles, { audience: svids.jwt.audience, now });
}
