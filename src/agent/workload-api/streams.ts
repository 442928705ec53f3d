// Server-streaming Workload API calls (Workload API standard, section 4.3): the first message is
// sent as soon as the caller is attested, every message is the complete state, and a new message
// is pushed after a source change only when its bytes differ from the last one sent (so bundle
// streams stay quiet when only someone else's SVID rotated). A caller that loses all its
// identities mid-stream gets the stream ended with PermissionDenied. Per-stream lines are at
// debug; the grant (first FetchX509SVID message) or refusal goes to the identity log, which writes
// one rate-limited info line per caller and outcome (docs/logging.md).
import { toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { SpindleError } from "../../common/errors.js";
import { CALLER_REFUSAL_CODES, type IdentityLog } from "../../common/identity-log.js";
import { logLimited, summarizeList, type LogRateLimiter } from "../../common/log-rate-limit.js";
import type { Logger } from "../../common/logger.js";
import type { PeerCredentials } from "../../transport/peer-cred.js";
import type { CallerResolver } from "./caller.js";
import { toStatusError } from "./caller.js";
import type { IdentitySource, TrustBundles, WorkloadIdentity } from "./contracts.js";
import { uniqueIdentities } from "./responses.js";

export interface StreamOptions<S extends DescMessage> {
  call: grpc.ServerWritableStream<unknown, MessageShape<S>>;
  schema: S;
  resolver: CallerResolver;
  source: IdentitySource;
  log: Logger;
  rpc: string;
  /** The connection's kernel credentials (for the refusal line when attestation fails). */
  peer: PeerCredentials | undefined;
  identityLog: IdentityLog;
  /** Whether the first message is an identity grant (FetchX509SVID; not the bundle streams). */
  grants: boolean;
  /** Rate limit of this service's warnings. */
  warnings: LogRateLimiter;
  build(identities: readonly WorkloadIdentity[], trust: TrustBundles): MessageShape<S>;
  /** Counts open streams for the service's gauge. */
  onOpen(): void;
  onClose(): void;
}

export function serveStream<S extends DescMessage>(options: StreamOptions<S>): void {
  const { call, schema, resolver, source, rpc, peer } = options;
  let log = options.log;
  let ended = false;
  let opened = false;
  let unsubscribe = (): void => {};
  let last: Buffer | undefined;
  let sent = 0;

  const finish = (err?: SpindleError): void => {
    if (ended) return;
    ended = true;
    unsubscribe();
    if (opened) options.onClose();
    if (err === undefined) {
      log.debug({ sent }, "stream closed by the client");
      return;
    }
    const line = { code: err.code, err: err.message, cause: err.cause instanceof Error ? err.cause.message : undefined };
    if (CALLER_REFUSAL_CODES.has(err.code)) {
      options.identityLog.refused({ rpc, pid: peer?.pid, uid: peer?.uid, selectors: caller?.selectorText, err });
      log.debug(line, "ending stream with an error");
    } else {
      logLimited(options.warnings, `stream-error:${rpc}:${err.code}`, log, "warn", line, "ending stream with an error");
    }
    call.emit("error", toStatusError(err));
  };
  call.on("cancelled", () => finish());
  call.on("close", () => finish());

  const push = (): void => {
    if (ended) return;
    try {
      const identities = uniqueIdentities(resolver.identities(caller!), (what) => logLimited(options.warnings, `duplicate:${what}`, log, "warn", {}, `duplicate identity in entries: ${what}`));
      const message = options.build(identities, source.bundles());
      const bytes = Buffer.from(toBinary(schema, message));
      if (last !== undefined && last.equals(bytes)) return;
      last = bytes;
      sent++;
      const ids = identities.map((i) => i.spiffeId);
      if (sent === 1 && options.grants) options.identityLog.granted({ rpc, pid: caller!.peer.pid, uid: caller!.peer.uid, selectors: caller!.selectorText, spiffeIds: ids });
      if (log.isLevelEnabled("debug")) {
        // Counted, not listed: a caller with thousands of identities would make lines of 100 KB.
        const { shown, total } = summarizeList(ids);
        log.debug({ spiffeIds: shown, spiffeIdCount: total, sent }, sent === 1 ? "sending the first message" : "content changed, pushing an update");
      }
      // Already encoded for the comparison: write those bytes (the codec passes Uint8Array through).
      call.write(bytes as unknown as MessageShape<S>);
    } catch (err) {
      finish(SpindleError.from(err));
    }
  };

  let caller: Awaited<ReturnType<CallerResolver["resolve"]>> | undefined;
  resolver.resolve(call, log).then(
    (resolved) => {
      if (ended) return;
      caller = resolved;
      log = resolved.log;
      opened = true;
      options.onOpen();
      // Subscribe before the first push so no change between the two is missed.
      unsubscribe = source.onChange(push);
      push();
    },
    (err: unknown) => finish(SpindleError.from(err)),
  );
}
