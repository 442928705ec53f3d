// SVID minting on the active authorities (X509-SVID and JWT-SVID standards). Requests are checked
// here (the agent and admin APIs pass registration data through), then handed to the precomputed
// leaf minter or to jose.
import { spindleError } from "../../common/index.js";
import { parseTrustDomain, requireWorkloadId } from "../../spiffe/index.js";
import type { JwtAuthorityRecord, MintJwtSvidRequest, MintX509SvidRequest, MintedJwtSvid, MintedX509Svid, X509AuthorityRecord } from "../contracts.js";
import { isAcceptableWorkloadKey } from "../keys/index.js";
import { LEAF_BACKDATE_MS } from "../x509/index.js";
import type { AuthoritySet } from "./authority-set.js";
import { signJwtSvid, type JwtSigner } from "./jwt-authority.js";
import type { ResolvedOptions } from "./options.js";
import type { X509Signer } from "./x509-authority.js";

export interface MintingDeps {
  options: Readonly<ResolvedOptions>;
  x509: AuthoritySet<X509AuthorityRecord, X509Signer>;
  jwt: AuthoritySet<JwtAuthorityRecord, JwtSigner>;
}

// RFC 1123 host names, optionally with one leading wildcard label.
const DNS_NAME = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function ttlOf(requested: number | undefined, fallback: number): number {
  if (requested === undefined) return fallback;
  if (!Number.isSafeInteger(requested) || requested <= 0) {
    throw spindleError("ERR_INVALID_ARGUMENT", `ttlSeconds must be a positive integer, got ${String(requested)}`);
  }
  return requested;
}

const unavailable = (what: string) =>
  spindleError("ERR_AUTHORITY_UNAVAILABLE", `no usable active ${what} authority (the CA is rotating or its key is missing); retry shortly`);

export function createMinting({ options: o, x509, jwt }: MintingDeps) {
  const td = parseTrustDomain(o.trustDomain);

  return {
    mintX509Svid(req: MintX509SvidRequest): MintedX509Svid {
      const spiffeId = requireWorkloadId(req.spiffeId, td).toString();
      const dnsNames = req.dnsNames ?? [];
      for (const d of dnsNames) {
        if (typeof d !== "string" || d.length > 253 || !DNS_NAME.test(d)) {
          throw spindleError("ERR_INVALID_ARGUMENT", `DNS name ${JSON.stringify(d)} is not a valid host name`);
        }
      }
      if (!isAcceptableWorkloadKey(req.publicKey)) {
        throw spindleError("ERR_KEY_UNSUPPORTED", `workload key for ${spiffeId} must be EC P-256/P-384 or RSA >= 2048 bits`);
      }
      const ttl = ttlOf(req.ttlSeconds, o.x509SvidTtlSeconds);
      const signer = x509.active();
      if (signer === undefined) throw unavailable("X.509");
      const ca = signer.record;
      const now = o.clock.now();
      // Never past the issuing CA (section 2); certificate times are whole seconds.
      const notAfter = Math.floor(Math.min(now + ttl * 1000, ca.notAfter) / 1000) * 1000;
      if (notAfter <= now) throw unavailable("X.509");
      const notBefore = Math.max(now - LEAF_BACKDATE_MS, ca.notBefore);
      const leaf = signer.minter.mint({ spiffeId, publicKey: req.publicKey, dnsNames, notBefore, notAfter });
      return { spiffeId, chain: [leaf.der, ...signer.chainAboveLeaf], serial: leaf.serialHex, notAfter, authorityId: ca.id };
    },

    async mintJwtSvid(req: MintJwtSvidRequest): Promise<MintedJwtSvid> {
      const spiffeId = requireWorkloadId(req.spiffeId, td).toString();
      const audience = req.audience;
      if (!Array.isArray(audience) || audience.length === 0 || audience.some((a) => typeof a !== "string" || a === "")) {
        throw spindleError("ERR_INVALID_ARGUMENT", "a JWT-SVID needs at least one non-empty audience (section 3)");
      }
      const ttl = ttlOf(req.ttlSeconds, o.jwtSvidTtlSeconds);
      const signer = jwt.active();
      if (signer === undefined) throw unavailable("JWT");
      const nowSec = Math.floor(o.clock.now() / 1000);
      const exp = Math.min(nowSec + ttl, Math.floor(signer.record.notAfter / 1000));
      if (exp <= nowSec) throw unavailable("JWT");
      const token = await signJwtSvid(signer, { spiffeId, audience, issuedAt: nowSec, expiresAt: exp, issuer: o.jwtIssuer });
      return { spiffeId, token, kid: signer.record.kid, expiresAt: exp * 1000 };
    },
  };
}
