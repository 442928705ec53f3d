// Why a bundle refresh was refused: one closed set of reasons, used as the metric label and in
// the log line (docs/federation.md lists them).
import { spindleError, SpindleError } from "../../common/errors.js";

export const REFUSAL_REASONS = [
  "connect",
  "tls",
  "server_certificate",
  "endpoint_id_mismatch",
  "no_endpoint_bundle",
  "ca_file",
  "timeout",
  "http_status",
  "redirect",
  "body_too_large",
  "malformed_json",
  "invalid_bundle",
  "no_usable_keys",
  "wrong_trust_domain",
  "sequence_regressed",
  "datastore",
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export function refused(reason: RefusalReason, message: string, cause?: unknown): SpindleError {
  return spindleError("ERR_FEDERATION_REFRESH_FAILED", message, { details: { reason }, ...(cause !== undefined ? { cause } : {}) });
}

export function reasonOf(err: unknown): RefusalReason {
  const r = err instanceof SpindleError ? err.details["reason"] : undefined;
  return (REFUSAL_REASONS as readonly unknown[]).includes(r) ? (r as RefusalReason) : "datastore";
}
