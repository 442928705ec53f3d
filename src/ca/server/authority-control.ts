// Adapts the CA's authority management to the admin API's AuthorityControl.
import { spindleError } from "../../common/errors.js";
import type { JwtAuthorityRecord, X509AuthorityRecord } from "../contracts.js";
import type { Clock, Logger } from "../../common/index.js";
import { safeActivationTime, type ManagedCertificateAuthority } from "../authority/index.js";
import type { AuthorityControl, AuthorityInfo, AuthorityKind } from "../admin/index.js";

export function createAuthorityControl(ca: ManagedCertificateAuthority, clock: Clock, logger: Logger): AuthorityControl {
  const info = (kind: AuthorityKind, r: X509AuthorityRecord | JwtAuthorityRecord): AuthorityInfo => {
    const id = "kid" in r ? r.kid : r.id;
    const safeToActivateAt = safeActivationTime(r, ca.publishLeadMs);
    return { kind, id, state: r.state, notBefore: r.notBefore, notAfter: r.notAfter, tainted: r.tainted, serverId: r.serverId, safeToActivateAt };
  };
  const records = (kind: AuthorityKind) => (kind === "x509" ? ca.show().x509 : ca.show().jwt);
  return {
    async list() {
      const j = ca.show();
      return [...j.x509.map((r) => info("x509", r)), ...j.jwt.map((r) => info("jwt", r))];
    },
    prepare: async (kind) => info(kind, await ca.prepare(kind)),
    async activate(kind) {
      const prepared = records(kind).find((r) => r.state === "prepared");
      if (!prepared) throw spindleError("ERR_NOT_FOUND", `no prepared ${kind} authority to activate; run \`spindle authority prepare --kind ${kind}\` first`);
      // An operator may activate early (a compromised active key), but is told what it risks:
      // SPIFFE_Federation section 4.1 wants new keys published 3-5 refresh hints before they sign.
      const now = clock.now();
      const safe = safeActivationTime(prepared, ca.publishLeadMs);
      const activated = info(kind, await ca.activate(kind, "kid" in prepared ? prepared.kid : prepared.id));
      if (now >= safe) return { authority: activated };
      const warning =
        `activated before the earliest safe time ${new Date(safe).toISOString()}: it was prepared at ${new Date(prepared.preparedAt ?? prepared.notBefore).toISOString()}, ` +
        `and federated peers polling this trust domain's bundle endpoint may not hold it yet, so they can refuse SVIDs it signs until their next poll`;
      logger.warn({ kind, id: activated.id, safeToActivateAt: new Date(safe).toISOString() }, `authority ${warning}`);
      return { authority: activated, warning };
    },
    taint: async (kind, id) => info(kind, await ca.taint(kind, id)),
    revoke: async (kind, id) => info(kind, await ca.revoke(kind, id)),
  };
}
