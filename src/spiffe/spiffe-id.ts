// SPIFFE ID parsing (SPIFFE-ID standard, section 2). Every rule has its own error code so callers
// and tests can tell exactly which one an input broke; the message gives the character index.
import { spindleError, type ErrorCode } from "../common/errors.js";
import { quote } from "./quote.js";
import { SPIFFE_SCHEME_PREFIX, TrustDomain, invalidTrustDomainCharIndex, trustedTrustDomain } from "./trust-domain.js";

/** Section 1: a SPIFFE ID is at most 2048 bytes (UTF-8). */
export const MAX_SPIFFE_ID_BYTES = 2048;

function isPathChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2e || // .
    c === 0x2d || // -
    c === 0x5f // _
  );
}

function fail(code: ErrorCode, id: string, why: string, index?: number): never {
  const where = index === undefined ? "" : ` at index ${index}`;
  throw spindleError(code, `invalid SPIFFE ID ${quote(id)}: ${why}${where}`, {
    details: index === undefined ? { value: id } : { value: id, index },
  });
}

const TOKEN = Symbol("SpiffeId");

export class SpiffeId {
  readonly trustDomain: TrustDomain;
  /** `""` for the trust domain's own ID, otherwise `/seg/seg...`. */
  readonly path: string;
  readonly #text: string;

  /** Use parseSpiffeId() or spiffeIdFromParts(); the constructor trusts its input. */
  constructor(token: typeof TOKEN, trustDomain: TrustDomain, path: string) {
    if (token !== TOKEN) throw new TypeError("SpiffeId: use parseSpiffeId()");
    this.trustDomain = trustDomain;
    this.path = path;
    this.#text = SPIFFE_SCHEME_PREFIX + trustDomain.name + path;
    Object.freeze(this);
  }

  /** True for `spiffe://<td>` (no path): the ID of a trust domain, not of a workload. */
  get isRoot(): boolean {
    return this.path === "";
  }

  isMemberOf(td: TrustDomain): boolean {
    return this.trustDomain.equals(td);
  }

  equals(other: SpiffeId): boolean {
    return this.#text === other.#text;
  }

  toString(): string {
    return this.#text;
  }

  toJSON(): string {
    return this.#text;
  }
}

/**
 * Checks one path segment (without its leading `/`). `id` and `offset` only shape the message.
 * `isLast` distinguishes a trailing slash from an empty segment in the middle.
 */
function checkSegment(segment: string, id: string, offset: number, isLast: boolean): void {
  if (segment === "") {
    if (isLast) fail("ERR_SPIFFE_ID_TRAILING_SLASH", id, "path ends with '/'", offset - 1);
    fail("ERR_SPIFFE_ID_EMPTY_SEGMENT", id, "path has an empty segment ('//')", offset - 1);
  }
  if (segment === "." || segment === "..") {
    fail("ERR_SPIFFE_ID_DOT_SEGMENT", id, `path segment ${quote(segment)} is a dot segment`, offset);
  }
  for (let i = 0; i < segment.length; i++) {
    if (!isPathChar(segment.charCodeAt(i))) {
      fail("ERR_SPIFFE_ID_PATH_CHAR", id, `path character ${quote(segment[i]!)} is not allowed (only a-z A-Z 0-9 . - _)`, offset + i);
    }
  }
}

/** Validates `/seg/seg...` (or `""`); `base` is the index of the path inside `id`. */
function checkPath(path: string, id: string, base: number): void {
  if (path === "") return;
  const segments = path.slice(1).split("/");
  let offset = base + 1;
  segments.forEach((segment, i) => {
    checkSegment(segment, id, offset, i === segments.length - 1);
    offset += segment.length + 1;
  });
}

/** Parses and validates a SPIFFE ID (workload or trust domain ID). Throws ERR_SPIFFE_ID_*. */
export function parseSpiffeId(id: string): SpiffeId {
  if (typeof id !== "string") throw new TypeError("parseSpiffeId: expected a string");
  if (id === "") fail("ERR_SPIFFE_ID_EMPTY", id, "empty string");
  const bytes = Buffer.byteLength(id, "utf8");
  if (bytes > MAX_SPIFFE_ID_BYTES) fail("ERR_SPIFFE_ID_TOO_LONG", id, `${bytes} bytes, the limit is ${MAX_SPIFFE_ID_BYTES}`);
  // The scheme is case-sensitive here although URIs are not: section 1 says exactly `spiffe`.
  if (!id.startsWith(SPIFFE_SCHEME_PREFIX)) fail("ERR_SPIFFE_ID_SCHEME", id, "must start with exactly 'spiffe://'");
  // These three are URI features that would make two spellings of one ID possible; check them
  // before character rules so the error names the real mistake.
  const pct = id.indexOf("%");
  if (pct !== -1) fail("ERR_SPIFFE_ID_PERCENT_ENCODED", id, "percent-encoding is not allowed", pct);
  const qf = id.search(/[?#]/);
  if (qf !== -1) fail("ERR_SPIFFE_ID_QUERY_OR_FRAGMENT", id, `${id[qf] === "?" ? "query" : "fragment"} is not allowed`, qf);

  const tdStart = SPIFFE_SCHEME_PREFIX.length;
  const slash = id.indexOf("/", tdStart);
  const tdName = slash === -1 ? id.slice(tdStart) : id.slice(tdStart, slash);
  if (tdName === "") fail("ERR_SPIFFE_ID_TRUST_DOMAIN_EMPTY", id, "trust domain is empty", tdStart);
  const bad = invalidTrustDomainCharIndex(tdName);
  if (bad !== -1) {
    fail("ERR_SPIFFE_ID_TRUST_DOMAIN_CHAR", id, `trust domain character ${quote(tdName[bad]!)} is not allowed (only a-z 0-9 . - _)`, tdStart + bad);
  }
  const path = slash === -1 ? "" : id.slice(slash);
  checkPath(path, id, slash);
  return new SpiffeId(TOKEN, trustedTrustDomain(tdName), path);
}

/** True when `value` is a valid SPIFFE ID. */
export function isSpiffeId(value: string): boolean {
  try {
    parseSpiffeId(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds `spiffe://<td>/<seg>/<seg>...`; each segment is one path segment (a `/` inside one is a
 * path character error). No segments gives the trust domain's own ID.
 */
export function spiffeIdFromParts(td: TrustDomain, ...segments: string[]): SpiffeId {
  const path = segments.map((s) => `/${s}`).join("");
  const text = td.id() + path;
  let offset = td.id().length + 1;
  for (const segment of segments) {
    const slash = segment.indexOf("/");
    if (slash !== -1) fail("ERR_SPIFFE_ID_PATH_CHAR", text, "a segment must not contain '/'", offset + slash);
    offset += segment.length + 1;
  }
  return spiffeIdFromPath(td, path);
}

/** Builds an ID from a trust domain and a path such as `/ns/web` (or `""` for the root ID). */
export function spiffeIdFromPath(td: TrustDomain, path: string): SpiffeId {
  const text = td.id() + path;
  if (path !== "" && !path.startsWith("/")) {
    fail("ERR_SPIFFE_ID_PATH_CHAR", text, "path must start with '/'", td.id().length);
  }
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_SPIFFE_ID_BYTES) fail("ERR_SPIFFE_ID_TOO_LONG", text, `${bytes} bytes, the limit is ${MAX_SPIFFE_ID_BYTES}`);
  checkPath(path, text, td.id().length);
  return new SpiffeId(TOKEN, td, path);
}

/**
 * Requires a workload ID (non-root path, section 1), optionally in a given trust domain.
 * Accepts a parsed ID or a string (parsed first, so string errors keep their ERR_SPIFFE_ID_* code).
 */
export function requireWorkloadId(id: SpiffeId | string, trustDomain?: TrustDomain): SpiffeId {
  const parsed = typeof id === "string" ? parseSpiffeId(id) : id;
  const text = parsed.toString();
  if (parsed.isRoot) fail("ERR_SPIFFE_ID_NOT_WORKLOAD", text, "a workload ID needs a path; this is a trust domain ID");
  if (trustDomain !== undefined && !parsed.isMemberOf(trustDomain)) {
    fail("ERR_SPIFFE_ID_WRONG_TRUST_DOMAIN", text, `must be in trust domain ${quote(trustDomain.name)}`);
  }
  return parsed;
}
