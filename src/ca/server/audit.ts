// One audit line per SVID issuance: entry id, SPIFFE ID, requester, serial and expiry.
import { componentLogger, type Logger } from "../../common/logger.js";
import type { IssuanceEvent } from "../admin/index.js";

export function createAuditLog(logger: Logger): (event: IssuanceEvent) => void {
  const audit = componentLogger(logger, "audit");
  return (e) =>
    audit.info(
      {
        audit: "svid_issued",
        svidType: e.type,
        entryId: e.entryId,
        spiffeId: e.spiffeId,
        requester: e.requester,
        serial: e.serial,
        ...(e.kid !== undefined ? { kid: e.kid } : {}),
        expiresAt: new Date(e.expiresAt).toISOString(),
      },
      "SVID issued",
    );
}
