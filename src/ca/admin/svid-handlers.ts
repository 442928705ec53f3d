// Minting handlers: X.509-SVIDs with a freshly generated key (returned to the caller, never
// stored) and JWT-SVIDs. Each issuance emits one audit event.
import { spindleError } from "../../common/errors.js";
import type { MintJWTSVIDRequest, MintX509SVIDRequest } from "../../gen/spindle/admin/v1/admin_pb.js";
import { generateKeyPair } from "../keys/index.js";
import { dnsNameProblem, spiffeIdProblem, trustDomainOf } from "../registration/index.js";
import type { AdminServiceDeps } from "./deps.js";

/** Admin mints are not issued for a registration entry; their audit lines say so with "". */
const ADMIN_MINT_ENTRY_ID = "";

function checkWorkloadId(deps: AdminServiceDeps, id: string): void {
  const p = spiffeIdProblem(id, true);
  if (p) throw spindleError("ERR_INVALID_ARGUMENT", `spiffe_id: ${p}`);
  if (trustDomainOf(id) !== deps.trustDomain) {
    throw spindleError("ERR_INVALID_ARGUMENT", `spiffe_id: "${id}" is outside the trust domain "${deps.trustDomain}"`);
  }
}

function checkTtl(ttl: number, max: number): void {
  if (ttl < 0 || ttl > max) throw spindleError("ERR_INVALID_ARGUMENT", `ttl: must be 0 (default) to ${max} seconds, got ${ttl}`);
}

export async function mintX509(deps: AdminServiceDeps, req: MintX509SVIDRequest, requester: string) {
  checkWorkloadId(deps, req.spiffeId);
  checkTtl(req.ttl, deps.limits.maxX509SvidTtl);
  const dnsProblems = req.dnsNames.flatMap((n, i) => {
    const p = dnsNameProblem(n);
    return p ? [`dns_names[${i}]: ${p}`] : [];
  });
  if (dnsProblems.length > 0) throw spindleError("ERR_INVALID_ARGUMENT", dnsProblems.join("; "));
  const key = await generateKeyPair("ec-p256");
  const svid = deps.ca.mintX509Svid({
    spiffeId: req.spiffeId,
    publicKey: key.publicKey,
    ttlSeconds: req.ttl === 0 ? undefined : req.ttl,
    dnsNames: req.dnsNames,
  });
  const bundle = await deps.ownBundle();
  deps.onIssued({ type: "x509", entryId: ADMIN_MINT_ENTRY_ID, spiffeId: svid.spiffeId, requester, serial: svid.serial, expiresAt: svid.notAfter });
  return {
    spiffeId: svid.spiffeId,
    certChain: svid.chain,
    privateKey: key.privateKey.export({ format: "der", type: "pkcs8" }),
    bundle: bundle.x509Authorities,
    serial: svid.serial,
    expiresAt: BigInt(svid.notAfter),
  };
}

export async function mintJwt(deps: AdminServiceDeps, req: MintJWTSVIDRequest, requester: string) {
  checkWorkloadId(deps, req.spiffeId);
  checkTtl(req.ttl, deps.limits.maxJwtSvidTtl);
  if (req.audience.length === 0) throw spindleError("ERR_INVALID_ARGUMENT", "audience: at least one audience is required");
  if (req.audience.some((a) => a === "")) throw spindleError("ERR_INVALID_ARGUMENT", "audience: an audience is empty");
  const svid = await deps.ca.mintJwtSvid({ spiffeId: req.spiffeId, audience: req.audience, ttlSeconds: req.ttl === 0 ? undefined : req.ttl });
  deps.onIssued({ type: "jwt", entryId: ADMIN_MINT_ENTRY_ID, spiffeId: svid.spiffeId, requester, serial: "", kid: svid.kid, expiresAt: svid.expiresAt });
  return { spiffeId: svid.spiffeId, token: svid.token, kid: svid.kid, expiresAt: BigInt(svid.expiresAt) };
}
