// Who is calling (Workload API standard, section 4.1; Workload Endpoint standard, sections 3
// and 6): the security metadata is checked first, then readiness, then the kernel peer
// credentials are attested into selectors and matched to identities. Every refusal is a
// SpindleError whose code maps to the status the official clients expect (InvalidArgument stops
// them, Unavailable makes them retry).
import type * as grpc from "@grpc/grpc-js";
import { SpindleError, spindleError } from "../../common/errors.js";
import type { PeerSource } from "../../transport/grpc-socket-server.js";
import { createLogRateLimiter, logLimited, type LogRateLimiter } from "../../common/log-rate-limit.js";
import type { Logger } from "../../common/logger.js";
import type { PeerCredentials } from "../../transport/peer-cred.js";
import { formatSelector, type Selector } from "../../spiffe/selector.js";
import { toGrpcStatus } from "../../transport/wire-errors.js";
import type { IdentitySource, PendingIdentities, WorkloadAttestor, WorkloadIdentity } from "./contracts.js";

/** The metadata every Workload API request must carry, and its only accepted value. */
export const WORKLOAD_API_HEADER = "workload.spiffe.io";
export const WORKLOAD_API_HEADER_VALUE = "true";

export interface CallerContext {
  readonly peer: PeerCredentials;
  readonly selectors: readonly Selector[];
  /** `selectors` formatted (`unix:uid:1000`), for log lines. */
  readonly selectorText: readonly string[];
  readonly log: Logger;
}

export interface CallerResolverOptions {
  attestor: WorkloadAttestor;
  source: IdentitySource;
  peerCredentials(call: PeerSource): PeerCredentials | undefined;
  /** Rate limit of the resolver's warnings (default: its own, docs/logging.md). */
  warnings?: LogRateLimiter;
}

type Call = PeerSource & { metadata: grpc.Metadata };

export function checkWorkloadMetadata(metadata: grpc.Metadata): void {
  const values = metadata.get(WORKLOAD_API_HEADER);
  if (values.length !== 1 || values[0] !== WORKLOAD_API_HEADER_VALUE) {
    const got = values.length === 0 ? "it is missing" : `got ${JSON.stringify(values.map(String))}`;
    throw spindleError("ERR_WORKLOAD_API_METADATA", `security header missing from request: metadata "${WORKLOAD_API_HEADER}: ${WORKLOAD_API_HEADER_VALUE}" is required (${got})`);
  }
}

export interface CallerResolver {
  /** Metadata, readiness and attestation; rejects with the status the call must end with. */
  resolve(call: Call, log: Logger): Promise<CallerContext>;
  /** The caller's current identities; ERR_WORKLOAD_NO_IDENTITY when there are none. */
  identities(caller: CallerContext): readonly WorkloadIdentity[];
}

export function createCallerResolver(options: CallerResolverOptions): CallerResolver {
  const { attestor, source } = options;
  const warnings = options.warnings ?? createLogRateLimiter();
  return {
    async resolve(call, log) {
      checkWorkloadMetadata(call.metadata);
      const peer = options.peerCredentials(call);
      if (peer === undefined) throw spindleError("ERR_PEER_CREDENTIALS", "the connection's peer credentials are unknown");
      const who = { pid: peer.pid, uid: peer.uid, gid: peer.gid };
      // Before the first sync the agent cannot tell "no entry" from "not synced yet": java-spiffe
      // gives up for good on PermissionDenied, so only Unavailable is honest here.
      if (!source.ready) {
        log.debug(who, "refusing a call before the first sync with the server (Unavailable, clients retry)");
        throw spindleError("ERR_WORKLOAD_API_NOT_READY", "the agent has not completed its first sync with the server yet; retry");
      }
      let selectors: readonly Selector[];
      try {
        selectors = await attestor.attest(peer);
      } catch (err) {
        const e = SpindleError.from(err);
        if (e.code === "ERR_INTERNAL") throw spindleError("ERR_WORKLOAD_ATTESTATION", `cannot attest the calling process (pid ${peer.pid}): ${e.message}`, { cause: err });
        throw e;
      }
      // One child logger per call (pino serialises bindings when a child is made).
      const selectorText = selectors.map(formatSelector);
      return { peer, selectors, selectorText, log: log.child({ ...who, selectors: selectorText }) };
    },
    identities(caller) {
      const found = source.identitiesFor(caller.selectors);
      const pending = found.length === 0 ? source.pendingFor?.(caller.selectors) : undefined;
      if (pending !== undefined) throw pendingError(caller, pending, warnings);
      if (found.length === 0) {
        // The identity log writes the refusal with the selectors, once per caller and window.
        caller.log.debug("no registration entry matches the caller's selectors (PermissionDenied)");
        throw spindleError("ERR_WORKLOAD_NO_IDENTITY", "no identity issued: no registration entry matches this workload's selectors");
      }
      return found;
    },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A caller whose entries match but whose SVIDs expired (or are not signed yet) is not "unknown":
 * PermissionDenied would make some SDKs give up for good (java-spiffe never retries it), so it
 * gets Unavailable and the log says why (docs/workload-api.md, "Who is calling", step 5).
 */
function pendingError(caller: CallerContext, p: PendingIdentities, warnings: LogRateLimiter): SpindleError {
  const down = p.serverUnreachableSince !== undefined;
  const why = p.entries.map((e) => {
    const svid = e.svidExpiredAt !== undefined ? `its SVID expired at ${iso(e.svidExpiredAt)}` : "no SVID has been signed for it yet";
    const server = down ? ` and the server is unreachable since ${iso(p.serverUnreachableSince!)} (${p.serverError ?? "unknown error"})` : e.signRefused !== undefined ? ` (the server refused its CSR: ${e.signRefused})` : "";
    return `entry ${e.entryId} (${e.spiffeId}) matches but ${svid}${server}`;
  });
  // Once per window for the same entries and outage, however many calls hit it.
  const entries = p.entries.map((e) => e.entryId);
  logLimited(
    warnings,
    `pending:${entries.join(",")}:${p.serverUnreachableSince ?? ""}`,
    caller.log,
    "warn",
    { entries, ...(down ? { serverUnreachableSince: iso(p.serverUnreachableSince!), serverError: p.serverError } : {}) },
    `${why.join("; ")}: answering Unavailable (clients retry)`,
  );
  return spindleError(
    "ERR_WORKLOAD_SVID_PENDING",
    down ? "no valid SVID right now: this workload's SVID expired while the agent cannot reach the server; retry" : "no valid SVID right now: this workload's SVID is being issued; retry",
  );
}

/** A grpc-js status error (src/transport/wire-errors.ts): safe message, code in the trailers. */
export function toStatusError(err: SpindleError): grpc.ServerErrorResponse {
  return toGrpcStatus(err, "agent");
}
