// One audit line per SVID issuance: entry id, SPIFFE ID, requester, serial and expiry. The admin
// API (mints by an operator) and the agent API (agent SVIDs, workload SVIDs) write the same shape.
import { componentLogger, type Logger } from "../../common/logger.js";

export interface AuditEvent {
  type: "agent" | "x509" | "jwt";
  /** The registration entry the SVID was issued for, "" when there is none (admin mint, agent SVID). */
  entryId: string;
  spiffeId: string;
  /** Who asked: `admin-socket uid=.. pid=..`, or the agent's SPIFFE ID. */
  requester: string;
  /** X.509 serial (hex); "" for JWT-SVIDs. */
  serial: string;
  kid?: string;
  expiresAt: number;
}

export function createAuditLog(logger: Logger): (event: AuditEvent) => void {
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
