// State-of-the-world xDS stream state machine (StreamSecrets, StreamExtensionConfigs), per
// docs/sds.md: a per-stream version counter and a fresh nonce per response; a request
// whose nonce is not the last one sent on THIS stream is stale and ignored (the first request of a
// new stream may carry a nonce of an old stream and is answered); error_detail is a NACK, logged,
// and the same content is not sent again; a response goes out when resource_names change or the
// content behind them changes. A requested name the caller cannot have now is left out of the
// response (never an error of the stream), logged once, and sent when it appears; while none of
// the names resolves nothing is sent (an empty response would tell Envoy the secret is missing).
import type { DiscoveryRequest } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { spindleError } from "../common/errors.js";
import { encodeDiscoveryResponse } from "./discovery-wire.js";
import {
  createSerialQueue,
  createUnavailableReporter,
  dedupe,
  newNonce,
  resolveAll,
  sameSet,
  type ResourceVersion,
  type XdsStreamContext,
  type XdsStreamMachine,
} from "./xds-stream-common.js";

interface Sent {
  readonly nonce: string;
  readonly versionInfo: string;
  readonly contentKey: string;
  readonly resources: readonly ResourceVersion[];
}

/** Responses are sent as encoded DiscoveryResponse bytes (see discovery-wire.ts). */
export function createSotwStream(ctx: XdsStreamContext<Uint8Array>): XdsStreamMachine<DiscoveryRequest> {
  const queue = createSerialQueue((err) => ctx.fail(err));
  let names: string[] = [];
  let counter = 0;
  let sent: Sent | undefined;
  let nackedKey: string | undefined;
  const report = createUnavailableReporter(ctx);

  async function refresh(force: boolean): Promise<void> {
    if (names.length === 0) {
      ctx.setDependencies(new Set());
      return;
    }
    const { resolved, unavailable } = await resolveAll(ctx.resolver, names);
    ctx.setDependencies(new Set([...resolved, ...unavailable].flatMap((r) => r.deps)));
    report(unavailable, resolved);
    if (resolved.length === 0) return;
    const contentKey = resolved.map((r) => `${r.name}@${r.version}`).join("\n");
    if (!force && sent?.contentKey === contentKey) return;
    // Content that changed back to what the client rejected is not pushed again (NACK loop).
    if (!force && contentKey === nackedKey) {
      ctx.logger.debug({ resources: names }, "not resending content the client rejected");
      return;
    }
    const versionInfo = String(++counter);
    const nonce = newNonce();
    ctx.send(encodeDiscoveryResponse({ versionInfo, typeUrl: ctx.typeUrl, nonce, resources: resolved.map((r) => r.encoded) }));
    sent = { nonce, versionInfo, contentKey, resources: resolved.map(({ name, version }) => ({ name, version })) };
    ctx.observer.pushed(sent.resources);
    if (ctx.logger.isLevelEnabled("debug")) ctx.logger.debug({ versionInfo, resources: sent.resources }, "sent");
  }

  function handle(request: DiscoveryRequest): Promise<void> | void {
    if (request.typeUrl !== "" && request.typeUrl !== ctx.typeUrl) {
      throw spindleError("ERR_XDS_TYPE_URL", `this service serves ${ctx.typeUrl}, not ${request.typeUrl}`);
    }
    const answersUs = sent !== undefined && request.responseNonce === sent.nonce;
    if (sent !== undefined && request.responseNonce !== "" && !answersUs) {
      ctx.logger.debug({ nonce: request.responseNonce, expected: sent.nonce }, "ignoring request with a stale nonce");
      return;
    }
    if (answersUs && sent !== undefined) {
      if (request.errorDetail !== undefined) {
        nackedKey = sent.contentKey;
        ctx.observer.nacked(sent.resources, request.errorDetail.message);
        ctx.warnLimited(
          `nack:${sent.contentKey}`,
          { versionInfo: sent.versionInfo, resources: sent.resources, code: request.errorDetail.code, error: request.errorDetail.message },
          "client rejected (NACK) a response; not resending the same content",
        );
      } else {
        ctx.observer.acked(sent.resources, request.versionInfo);
      }
    }
    const requested = dedupe(request.resourceNames);
    const namesChanged = !sameSet(requested, names);
    names = requested;
    // A pure ACK/NACK needs no answer; a first request (even with an old stream's nonce) or a new
    // set of names does.
    if (answersUs && !namesChanged) return;
    return refresh(true);
  }

  return {
    onRequest: (request) => queue.run(() => handle(request)),
    onChange: () => queue.run(() => refresh(false)),
    idle: () => queue.idle(),
    close() {
      queue.stop();
      ctx.observer.closed();
    },
  };
}
