// Test-only IdentitySource and attestors over test certificates (never imported by production
// code). Used by the Workload API tests, the `spindle api` tests and the interop suite.
import type { Clock } from "../../src/common/clock.js";
import { systemClock } from "../../src/common/clock.js";
import type { PeerCredentials } from "../../src/transport/peer-cred.js";
import type { Bundle } from "../../src/spiffe/bundle.js";
import { parseSelector, formatSelector, type Selector } from "../../src/spiffe/selector.js";
import { createTestCa, issueTestSvid, type TestCa } from "./spiffe/test-ca.js";
import { createTestBundle } from "./spiffe/test-bundle.js";
import { createTestJwtAuthority, signTestJwtSvid, type TestJwtAuthority } from "./spiffe/test-jwt.js";
import type { IdentitySource, MintedJwtSvid, TrustBundles, WorkloadAttestor, WorkloadIdentity } from "../../src/agent/workload-api/contracts.js";

export const TEST_TD = "example.org";
export const TEST_FED_TD = "partner.test";

export interface TestTrust {
  readonly root: TestCa;
  /** SVIDs are issued by this intermediate: chains are leaf + intermediate, the root is only in bundles. */
  readonly intermediate: TestCa;
  readonly jwt: TestJwtAuthority;
  readonly fedRoot: TestCa;
  readonly fedJwt: TestJwtAuthority;
}

export function createTestTrust(): TestTrust {
  const root = createTestCa({ trustDomain: TEST_TD });
  return {
    root,
    intermediate: createTestCa({ trustDomain: TEST_TD, parent: root }),
    jwt: createTestJwtAuthority(),
    fedRoot: createTestCa({ trustDomain: TEST_FED_TD }),
    fedJwt: createTestJwtAuthority(),
  };
}

interface Grant {
  readonly selector: string;
  readonly spiffeId: string;
  readonly hint?: string;
  readonly federatesWith: readonly string[];
  readonly entryId: string;
}

export interface FakeIdentitySourceOptions {
  trust?: TestTrust;
  ready?: boolean;
  clock?: Clock;
  jwtTtlSeconds?: number;
}

/** Identities granted to selectors; SVIDs issued on grant and re-issued by rotate(). */
export class FakeIdentitySource implements IdentitySource {
  readonly trust: TestTrust;
  ready: boolean;
  mints = 0;
  readonly #clock: Clock;
  readonly #ttl: number;
  readonly #grants: Grant[] = [];
  readonly #svids = new Map<string, WorkloadIdentity["x509Svid"]>();
  readonly #listeners = new Set<() => void>();
  #own: Bundle;
  #federated = new Map<string, Bundle>();
  #entry = 0;

  constructor(options: FakeIdentitySourceOptions = {}) {
    this.trust = options.trust ?? createTestTrust();
    this.ready = options.ready ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#ttl = options.jwtTtlSeconds ?? 300;
    this.#own = createTestBundle({ cas: [this.trust.root], jwtAuthorities: [this.trust.jwt], sequenceNumber: 1 });
    this.#federated.set(TEST_FED_TD, createTestBundle({ cas: [this.trust.fedRoot], jwtAuthorities: [this.trust.fedJwt], sequenceNumber: 1 }));
  }

  /** Grants `spiffeId` to workloads carrying `selector`, in grant order (the first is the default). */
  grant(selector: string, spiffeId: string, options: { hint?: string; federatesWith?: readonly string[] } = {}): void {
    if (!this.#svids.has(spiffeId)) this.#svids.set(spiffeId, this.#issue(spiffeId));
    this.#grants.push({ selector: formatSelector(parseSelector(selector)), spiffeId, hint: options.hint, federatesWith: options.federatesWith ?? [], entryId: `entry-${++this.#entry}` });
    this.emit();
  }

  /** Removes every grant to `selector`. */
  revoke(selector: string): void {
    for (let i = this.#grants.length - 1; i >= 0; i--) if (this.#grants[i]!.selector === selector) this.#grants.splice(i, 1);
    this.emit();
  }

  /** Issues a new SVID (new key) for `spiffeId`. */
  rotate(spiffeId: string): void {
    this.#svids.set(spiffeId, this.#issue(spiffeId));
    this.emit();
  }

  /** Replaces (or removes, with undefined) the federated bundle of `td`. */
  setFederatedBundle(td: string, bundle: Bundle | undefined): void {
    if (bundle === undefined) this.#federated.delete(td);
    else this.#federated.set(td, bundle);
    this.emit();
  }

  setOwnBundle(bundle: Bundle): void {
    this.#own = bundle;
    this.emit();
  }

  markReady(): void {
    this.ready = true;
    this.emit();
  }

  emit(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  identitiesFor(selectors: readonly Selector[]): readonly WorkloadIdentity[] {
    const have = new Set(selectors.map(formatSelector));
    return this.#grants
      .filter((g) => have.has(g.selector))
      .map((g) => ({ spiffeId: g.spiffeId, hint: g.hint, federatesWith: g.federatesWith, entryId: g.entryId, x509Svid: this.#svids.get(g.spiffeId)! }));
  }

  bundles(): TrustBundles {
    return { own: this.#own, federated: new Map(this.#federated) };
  }

  async mintJwtSvid(spiffeId: string, audience: readonly string[]): Promise<MintedJwtSvid> {
    this.mints++;
    const now = this.#clock.now();
    const issuedAt = Math.floor(now / 1000) * 1000;
    const token = await signTestJwtSvid(this.trust.jwt, { sub: spiffeId, aud: audience.length === 1 ? audience[0]! : audience, now, ttlSeconds: this.#ttl });
    return { token, issuedAt, expiresAt: issuedAt + this.#ttl * 1000 };
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  #issue(spiffeId: string): WorkloadIdentity["x509Svid"] {
    const svid = issueTestSvid(this.trust.intermediate, { spiffeId });
    return { certChainDer: svid.chainDer, privateKeyPkcs8Der: svid.privateKeyDer };
  }
}

/** An attestor that gives every caller the same selectors (one socket per test identity). */
export function createFixedAttestor(selectors: readonly string[]): WorkloadAttestor {
  const parsed = selectors.map(parseSelector);
  return { attest: async () => parsed };
}

/** An attestor deriving `unix:uid:<uid>` and `unix:gid:<gid>` from the peer credentials. */
export function createPeerUidAttestor(): WorkloadAttestor {
  return { attest: async (peer: PeerCredentials) => [parseSelector(`unix:uid:${peer.uid}`), parseSelector(`unix:gid:${peer.gid}`)] };
}
