// The one info line per identity decision on the agent socket (docs/logging.md): "identity
// granted" with the caller's pid and uid and what it got (SPIFFE IDs, or SDS resource names;
// the first few listed, all counted), or "identity refused" with the error code, the reason and
// the caller's selectors (what an entry would have to match). Lines are rate-limited per (uid,
// selector set, outcome): a busy workload reconnecting in a loop writes one line per window, and
// the next line says how many were left out. Per-call detail stays at debug.
import { createHash } from "node:crypto";
import type { Clock } from "./clock.js";
import type { ErrorCode, SpindleError } from "./errors.js";
import { createLogRateLimiter, logLimited, summarizeList } from "./log-rate-limit.js";
import type { Logger } from "./logger.js";

/** Codes that mean "this caller gets no identity (now)", as opposed to a fault or a bad request. */
export const CALLER_REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "ERR_WORKLOAD_NO_IDENTITY",
  "ERR_XDS_RESOURCE_DENIED",
  "ERR_WORKLOAD_SVID_PENDING",
  "ERR_WORKLOAD_API_NOT_READY",
  "ERR_WORKLOAD_ATTESTATION",
  "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE",
  "ERR_PEER_CREDENTIALS",
  "ERR_WORKLOAD_API_METADATA",
]);

/** SPIFFE IDs or resource names listed on a line; the rest are counted. */
export const LISTED_NAMES = 3;

export interface CallerDecision {
  /** The RPC (`FetchX509SVID`, `StreamSecrets`, ...). */
  rpc: string;
  pid?: number | undefined;
  uid?: number | undefined;
  /** Formatted selectors (`unix:uid:1000`); absent when attestation did not get that far. */
  selectors?: readonly string[] | undefined;
}

export interface IdentityLog {
  /** The caller was given these SPIFFE IDs (Workload API) or resources (SDS, ECDS). */
  granted(d: CallerDecision & { spiffeIds?: readonly string[]; resources?: readonly string[] }): void;
  /** The caller was refused; `err.code` must be one of CALLER_REFUSAL_CODES. */
  refused(d: CallerDecision & { err: SpindleError }): void;
}

export interface IdentityLogOptions {
  logger: Logger;
  clock?: Clock;
  /** Default LOG_WINDOW_MS (60 s). */
  windowMs?: number;
  maxKeys?: number;
}

export function createIdentityLog(options: IdentityLogOptions): IdentityLog {
  const log = options.logger.child({ component: "identity" });
  const limiter = createLogRateLimiter({ windowMs: options.windowMs, maxKeys: options.maxKeys, clock: options.clock });
  // Selector sets can be long (groups, pod labels): the limiter keeps a digest, not the text.
  const keyOf = (d: CallerDecision, outcome: string) =>
    createHash("sha256")
      .update(`${d.uid ?? "?"}\n${[...(d.selectors ?? [])].sort().join("\n")}\n${outcome}`)
      .digest("base64url");
  return {
    granted(d) {
      if (!log.isLevelEnabled("info")) return;
      const [field, names] = d.spiffeIds !== undefined ? (["spiffeIds", d.spiffeIds] as const) : (["resources", d.resources ?? []] as const);
      const list = summarizeList(names, LISTED_NAMES);
      const fields: Record<string, unknown> = { rpc: d.rpc, pid: d.pid, uid: d.uid, [field]: list.shown, [`${field.slice(0, -1)}Count`]: list.total };
      logLimited(limiter, keyOf(d, `granted\n${field}\n${names.join("\n")}`), log, "info", fields, "identity granted");
    },
    refused(d) {
      if (!log.isLevelEnabled("info")) return;
      const fields = { rpc: d.rpc, pid: d.pid, uid: d.uid, code: d.err.code, reason: d.err.message, ...(d.selectors !== undefined ? { selectors: d.selectors } : {}) };
      logLimited(limiter, keyOf(d, `refused\n${d.err.code}`), log, "info", fields, "identity refused");
    },
  };
}
