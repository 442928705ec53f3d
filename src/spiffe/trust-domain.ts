// Trust domain names (SPIFFE-ID standard, section 2.1): `a-z 0-9 . - _` only, so no upper case, no
// port and no userinfo. A TrustDomain is always valid once constructed.
import { spindleError } from "../common/errors.js";
import { quote } from "./quote.js";

export const SPIFFE_SCHEME_PREFIX = "spiffe://";

/** Index of the first character outside `a-z 0-9 . - _`, or -1. */
export function invalidTrustDomainCharIndex(name: string): number {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) || // a-z
      (c >= 0x30 && c <= 0x39) || // 0-9
      c === 0x2e || // .
      c === 0x2d || // -
      c === 0x5f; // _
    if (!ok) return i;
  }
  return -1;
}

const TOKEN = Symbol("TrustDomain");

export class TrustDomain {
  /** The bare name, e.g. `example.org`. */
  readonly name: string;

  /** Use parseTrustDomain(); the constructor trusts its input. */
  constructor(token: typeof TOKEN, name: string) {
    if (token !== TOKEN) throw new TypeError("TrustDomain: use parseTrustDomain()");
    this.name = name;
    Object.freeze(this);
  }

  /** The trust domain's own SPIFFE ID, `spiffe://<name>`: CA certificates and bundle map keys. */
  id(): string {
    return SPIFFE_SCHEME_PREFIX + this.name;
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }

  toJSON(): string {
    return this.name;
  }
}

/** Builds a TrustDomain from a name already checked by the caller (the SPIFFE ID parser). */
export function trustedTrustDomain(name: string): TrustDomain {
  return new TrustDomain(TOKEN, name);
}

/**
 * Parses `example.org` or `spiffe://example.org`. The ID form must have no path: a trust domain
 * written with a path is almost always a configuration mistake, so it is refused rather than cut.
 * Every failure is ERR_TRUST_DOMAIN_INVALID.
 */
export function parseTrustDomain(nameOrId: string): TrustDomain {
  if (typeof nameOrId !== "string") throw new TypeError("parseTrustDomain: expected a string");
  let name = nameOrId;
  if (nameOrId.startsWith(SPIFFE_SCHEME_PREFIX)) {
    name = nameOrId.slice(SPIFFE_SCHEME_PREFIX.length);
    const slash = name.indexOf("/");
    if (slash !== -1) {
      throw spindleError(
        "ERR_TRUST_DOMAIN_INVALID",
        `invalid trust domain ${quote(nameOrId)}: has a path at index ${SPIFFE_SCHEME_PREFIX.length + slash}; a trust domain ID is spiffe://<name> only`,
        { details: { value: nameOrId } },
      );
    }
  }
  if (name === "") {
    throw spindleError("ERR_TRUST_DOMAIN_INVALID", `invalid trust domain ${quote(nameOrId)}: name is empty`, {
      details: { value: nameOrId },
    });
  }
  const bad = invalidTrustDomainCharIndex(name);
  if (bad !== -1) {
    const offset = nameOrId.length - name.length;
    throw spindleError(
      "ERR_TRUST_DOMAIN_INVALID",
      `invalid trust domain ${quote(nameOrId)}: character ${quote(name[bad]!)} at index ${offset + bad} is not allowed (only a-z 0-9 . - _)`,
      { details: { value: nameOrId, index: offset + bad } },
    );
  }
  return new TrustDomain(TOKEN, name);
}

/** True when `value` parses as a trust domain name or ID. */
export function isTrustDomain(value: string): boolean {
  try {
    parseTrustDomain(value);
    return true;
  } catch {
    return false;
  }
}
