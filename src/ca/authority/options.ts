// Options of createCertificateAuthority, validated once (every problem listed together) and frozen.
import { spindleError, systemClock, createSilentLogger, type Clock, type Logger } from "../../common/index.js";
import { parseTrustDomain } from "../../spiffe/index.js";
import type { AuthorityJournalStore, KeyManager, KeyType } from "../contracts.js";
import { DEFAULT_KEY_TYPE, isKeyType } from "../keys/index.js";
import type { UpstreamAuthority } from "./upstream.js";
import { PUBLISH_HINT_MULTIPLE } from "./rotation.js";

/** The publication lead for a refresh hint (seconds) and a peer refresh interval (ms). */
export function publicationLeadMs(refreshHintSeconds: number, peerRefreshIntervalMs: number): number {
  return PUBLISH_HINT_MULTIPLE * refreshHintSeconds * 1000 + peerRefreshIntervalMs;
}

export interface CertificateAuthorityOptions {
  trustDomain: string;
  /** This replica's id; each replica owns its own authorities (HA, one journal per replica). */
  serverId: string;
  keyManager: KeyManager;
  journalStore: AuthorityJournalStore;
  clock?: Clock;
  logger?: Logger;
  /** Lifetime of each X.509 CA and JWT signing key. Default 24 h: docs/design/wire-facts.md, "Rotation and sync numbers". */
  caTtlSeconds?: number;
  /** Default X.509-SVID TTL, 1 h. Must be <= caTtlSeconds / 6. */
  x509SvidTtlSeconds?: number;
  /** Default JWT-SVID TTL, 5 min. Must be <= caTtlSeconds / 6. */
  jwtSvidTtlSeconds?: number;
  /** X.509 CA key type, default ec-p256. */
  keyType?: KeyType;
  /** JWT signing key type, default ec-p256 (ES256); the server config defaults to rsa-2048 (RS256, docs/oidc.md). */
  jwtKeyType?: KeyType;
  /** Chain the CA to an existing PKI: each CA becomes an intermediate signed by this upstream CA. */
  upstream?: UpstreamAuthority;
  /** `iss` claim of JWT-SVIDs (OIDC federation, docs/oidc.md); omitted when unset. */
  jwtIssuer?: string;
  /** Longest gap between rotation checks by start() (also refreshes other replicas' authorities). Default 30 s. */
  rotationCheckIntervalMs?: number;
  /**
   * How often start() re-reads the other replicas' journals (HA), so a peer's new or rotated
   * authority is in this replica's bundle within this interval. Default 5 s.
   */
  peerRefreshIntervalMs?: number;
  /**
   * spiffe_refresh_hint of the published bundle. When set, rotation activates a prepared
   * authority no sooner than PUBLISH_HINT_MULTIPLE hints (plus the peer refresh interval, for the
   * other replicas to publish it too) after it was prepared (SPIFFE_Federation section 4.1).
   */
  bundleRefreshHintSeconds?: number;
}

export interface ResolvedOptions {
  trustDomain: string;
  trustDomainId: string;
  serverId: string;
  keyManager: KeyManager;
  journalStore: AuthorityJournalStore;
  clock: Clock;
  logger: Logger;
  caTtlMs: number;
  x509SvidTtlSeconds: number;
  jwtSvidTtlSeconds: number;
  keyType: KeyType;
  jwtKeyType: KeyType;
  upstream: UpstreamAuthority | undefined;
  jwtIssuer: string | undefined;
  rotationCheckIntervalMs: number;
  peerRefreshIntervalMs: number;
  /** How long a prepared authority is published before rotation activates it (0: one pass). */
  publishLeadMs: number;
}

const isPositiveInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0;

export function resolveOptions(o: CertificateAuthorityOptions): Readonly<ResolvedOptions> {
  if (o.keyManager === undefined || o.journalStore === undefined) throw new TypeError("createCertificateAuthority: keyManager and journalStore are required");
  const problems: string[] = [];
  let trustDomain = "";
  try {
    trustDomain = parseTrustDomain(o.trustDomain).name;
  } catch (err) {
    problems.push(`trustDomain: ${(err as Error).message}`);
  }
  if (typeof o.serverId !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.serverId)) {
    problems.push(`serverId: ${JSON.stringify(o.serverId)} must be 1-64 of [A-Za-z0-9._-]`);
  }
  const caTtl = o.caTtlSeconds ?? 24 * 3600;
  const x509Ttl = o.x509SvidTtlSeconds ?? 3600;
  const jwtTtl = o.jwtSvidTtlSeconds ?? 300;
  for (const [name, v] of [["caTtlSeconds", caTtl], ["x509SvidTtlSeconds", x509Ttl], ["jwtSvidTtlSeconds", jwtTtl]] as const) {
    if (!isPositiveInt(v)) problems.push(`${name}: must be a positive integer number of seconds, got ${String(v)}`);
  }
  // Section 8: an SVID must fit inside the window between activation (CA lifetime / 6 before
  // its end) and the CA's expiry, or SVIDs minted just after activation would be capped.
  const maxSvidTtl = Math.floor(caTtl / 6);
  if (isPositiveInt(caTtl) && isPositiveInt(x509Ttl) && x509Ttl > maxSvidTtl) {
    problems.push(`x509SvidTtlSeconds: ${x509Ttl} s exceeds caTtlSeconds / 6 = ${maxSvidTtl} s; lower the SVID TTL or raise the CA TTL`);
  }
  if (isPositiveInt(caTtl) && isPositiveInt(jwtTtl) && jwtTtl > maxSvidTtl) {
    problems.push(`jwtSvidTtlSeconds: ${jwtTtl} s exceeds caTtlSeconds / 6 = ${maxSvidTtl} s; lower the SVID TTL or raise the CA TTL`);
  }
  const keyType = o.keyType ?? DEFAULT_KEY_TYPE;
  const jwtKeyType = o.jwtKeyType ?? DEFAULT_KEY_TYPE;
  if (!isKeyType(keyType)) problems.push(`keyType: unknown key type ${JSON.stringify(keyType)} (ec-p256, ec-p384, rsa-2048)`);
  if (!isKeyType(jwtKeyType)) problems.push(`jwtKeyType: unknown key type ${JSON.stringify(jwtKeyType)} (ec-p256, ec-p384, rsa-2048)`);
  if (o.jwtIssuer !== undefined && (typeof o.jwtIssuer !== "string" || o.jwtIssuer === "")) problems.push("jwtIssuer: must be a non-empty string when set");
  const interval = o.rotationCheckIntervalMs ?? 30_000;
  if (!isPositiveInt(interval)) problems.push(`rotationCheckIntervalMs: must be a positive integer, got ${String(interval)}`);
  const peerInterval = o.peerRefreshIntervalMs ?? 5_000;
  if (!isPositiveInt(peerInterval)) problems.push(`peerRefreshIntervalMs: must be a positive integer, got ${String(peerInterval)}`);
  const hint = o.bundleRefreshHintSeconds;
  if (hint !== undefined && !isPositiveInt(hint)) problems.push(`bundleRefreshHintSeconds: must be a positive integer, got ${String(hint)}`);
  if (problems.length > 0) {
    throw spindleError("ERR_CONFIG_INVALID", `invalid CA configuration:\n  - ${problems.join("\n  - ")}`, { details: { problems } });
  }
  return Object.freeze({
    trustDomain,
    trustDomainId: `spiffe://${trustDomain}`,
    serverId: o.serverId,
    keyManager: o.keyManager,
    journalStore: o.journalStore,
    clock: o.clock ?? systemClock,
    logger: o.logger ?? createSilentLogger(),
    caTtlMs: caTtl * 1000,
    x509SvidTtlSeconds: x509Ttl,
    jwtSvidTtlSeconds: jwtTtl,
    keyType,
    jwtKeyType,
    upstream: o.upstream,
    jwtIssuer: o.jwtIssuer,
    rotationCheckIntervalMs: interval,
    peerRefreshIntervalMs: peerInterval,
    publishLeadMs: hint === undefined ? 0 : publicationLeadMs(hint, peerInterval),
  });
}
