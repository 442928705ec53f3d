// One audit line per SVID issuance: entry id, SPIFFE ID, requester, serial and expiry. The admin
// API (mints by an operator) and the agent API (agent SVIDs, workload SVIDs) write the same shape.
import { componentLogger, type Logger } from "../../common/logger.js";
import type { IssuanceEvent } from "../admin/index.js";
import type { IssuedEvent } from "../agentapi/index.js";

/** An admin-API mint, or an agent-API issuance with the agent as its requester. */
export type AuditEvent = IssuanceEvent | (Omit<IssuedEvent, "agentId"> & { requester: string });

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
