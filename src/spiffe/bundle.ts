// The trust material of one trust domain (SPIFFE Trust Domain and Bundle standard, section 3) and
// the lookup interface that SVID validation depends on. Bundles are immutable values; a new version
// is a new object.
import type { JWK } from "jose";
import type { TrustDomain } from "./trust-domain.js";

export interface Bundle {
  readonly trustDomain: TrustDomain;
  /** X.509 authorities (CA certificates), DER. */
  readonly x509Authorities: readonly Uint8Array[];
  /** JWT authorities by `kid`; each JWK holds public members only, without `kid` and `use`. */
  readonly jwtAuthorities: ReadonlyMap<string, Readonly<JWK>>;
  /** `spiffe_sequence`: incremented on every change. */
  readonly sequenceNumber?: number;
  /** `spiffe_refresh_hint`, seconds. */
  readonly refreshHintSeconds?: number;
}

/** What validators need: the bundle of one trust domain, never a pool across domains (section 2). */
export interface BundleSource {
  getBundle(trustDomain: TrustDomain): Bundle | undefined;
}

export interface CreateBundleOptions {
  trustDomain: TrustDomain;
  x509Authorities?: Iterable<Uint8Array>;
  jwtAuthorities?: Iterable<readonly [string, JWK]> | Readonly<Record<string, JWK>>;
  sequenceNumber?: number;
  refreshHintSeconds?: number;
}

// JWK members that only private or symmetric keys carry; a bundle must never hold them.
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/** The private members present in `jwk` (empty for a public key). */
export function privateJwkMembers(jwk: Readonly<Record<string, unknown>>): string[] {
  return PRIVATE_JWK_MEMBERS.filter((m) => Object.hasOwn(jwk, m));
}

function isIterable(value: object): value is Iterable<readonly [string, JWK]> {
  return Symbol.iterator in value;
}

function publicJwk(kid: string, jwk: JWK): Readonly<JWK> {
  if (kid === "") throw new TypeError("createBundle: a JWT authority needs a non-empty kid");
  const priv = privateJwkMembers(jwk);
  if (priv.length > 0) throw new TypeError(`createBundle: JWT authority "${kid}" has private members ${priv.join(", ")}`);
  const { kid: _kid, use: _use, ...rest } = jwk;
  return Object.freeze(rest);
}

function optionalCount(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new TypeError(`createBundle: ${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/**
 * Builds a frozen Bundle. Inputs come from our own code (the CA, config, the decoder), so misuse is
 * a TypeError; untrusted documents go through decodeSpiffeBundle first.
 */
export function createBundle(options: CreateBundleOptions): Bundle {
  const jwt = new Map<string, Readonly<JWK>>();
  const entries = options.jwtAuthorities === undefined ? [] : isIterable(options.jwtAuthorities) ? options.jwtAuthorities : Object.entries(options.jwtAuthorities);
  for (const [kid, jwk] of entries) {
    if (jwt.has(kid)) throw new TypeError(`createBundle: duplicate JWT authority kid "${kid}"`);
    jwt.set(kid, publicJwk(kid, jwk));
  }
  const bundle: Bundle = {
    trustDomain: options.trustDomain,
    x509Authorities: Object.freeze([...(options.x509Authorities ?? [])].map((d) => Buffer.from(d))),
    jwtAuthorities: jwt,
    sequenceNumber: optionalCount("sequenceNumber", options.sequenceNumber),
    refreshHintSeconds: optionalCount("refreshHintSeconds", options.refreshHintSeconds),
  };
  return Object.freeze(bundle);
}

/** An immutable set of bundles keyed by trust domain; the usual BundleSource. */
export class BundleSet implements BundleSource, Iterable<Bundle> {
  readonly #byName: ReadonlyMap<string, Bundle>;

  private constructor(byName: ReadonlyMap<string, Bundle>) {
    this.#byName = byName;
  }

  static of(bundles: Iterable<Bundle>): BundleSet {
    const byName = new Map<string, Bundle>();
    for (const b of bundles) {
      if (byName.has(b.trustDomain.name)) throw new TypeError(`BundleSet: two bundles for trust domain "${b.trustDomain.name}"`);
      byName.set(b.trustDomain.name, b);
    }
    return new BundleSet(byName);
  }

  getBundle(trustDomain: TrustDomain): Bundle | undefined {
    return this.#byName.get(trustDomain.name);
  }

  get size(): number {
    return this.#byName.size;
  }

  /** A new set with `bundle` added or replacing the one of its trust domain. */
  with(bundle: Bundle): BundleSet {
    const next = new Map(this.#byName);
    next.set(bundle.trustDomain.name, bundle);
    return new BundleSet(next);
  }

  [Symbol.iterator](): Iterator<Bundle> {
    return this.#byName.values();
  }
}

export function createBundleSet(bundles: Iterable<Bundle> = []): BundleSet {
  return BundleSet.of(bundles);
}
