// Incremental (Delta) xDS stream state machine (DeltaSecrets, DeltaExtensionConfigs). The client
// says what it holds (initial_resource_versions), subscribes and unsubscribes by name, and ACKs or
// NACKs each response by nonce. The server sends only resources whose version differs from what the
// client holds, and lists in removed_resources the ones that vanished. A NACKed version is not sent
// again; a stale nonce's ACK/NACK is ignored, its subscription changes still apply. A subscribed
// name the caller cannot have now is listed in removed_resources (when just subscribed, or when
// it was delivered before), logged once, and sent when it appears; the stream stays open.
import { create } from "@bufbuild/protobuf";
import {
  DeltaDiscoveryResponseSchema,
  ResourceSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { spindleError } from "../common/errors.js";
import type { ResolvedResource } from "./xds-resource.js";
import { createSerialQueue, createUnavailableReporter, newNonce, resolveAll, type ResourceVersion, type XdsStreamContext, type XdsStreamMachine } from "./xds-stream-common.js";

export function createDeltaStream(ctx: XdsStreamContext<DeltaDiscoveryResponse>): XdsStreamMachine<DeltaDiscoveryRequest> {
  const queue = createSerialQueue((err) => ctx.fail(err));
  const subscribed = new Set<string>();
  /** What the client holds or has been sent: name -> version. */
  const held = new Map<string, string>();
  const nacked = new Map<string, string>();
  let first = true;
  let counter = 0;
  let last: { nonce: string; systemVersionInfo: string; resources: ResourceVersion[] } | undefined;
  const report = createUnavailableReporter(ctx);

  async function refresh(mustResolve: ReadonlySet<string>): Promise<void> {
    const { resolved, unavailable } = await resolveAll(ctx.resolver, [...subscribed]);
    const changed: ResolvedResource[] = [];
    const removed: string[] = [];
    const deps = new Set<string>();
    for (const u of unavailable) {
      u.deps.forEach((d) => deps.add(d));
      // Envoy learns that a name it just asked for, or held, does not exist (for it) now; a name
      // already reported stays quiet until it appears.
      if (mustResolve.has(u.name) || held.has(u.name)) removed.push(u.name);
      held.delete(u.name);
    }
    report(unavailable, resolved);
    resolved.forEach((r) => {
      const name = r.name;
      r.deps.forEach((d) => deps.add(d));
      if (held.get(name) === r.version) return;
      if (nacked.get(name) === r.version) {
        ctx.logger.debug({ resource: name, version: r.version }, "not resending a version the client rejected");
        return;
      }
      changed.push(r);
    });
    ctx.setDependencies(deps);
    if (changed.length === 0 && removed.length === 0) return;
    const systemVersionInfo = String(++counter);
    const nonce = newNonce();
    ctx.send(
      create(DeltaDiscoveryResponseSchema, {
        systemVersionInfo,
        typeUrl: ctx.typeUrl,
        nonce,
        removedResources: removed,
        resources: changed.map((r) => create(ResourceSchema, { name: r.name, version: r.version, resource: r.resource })),
      }),
    );
    for (const r of changed) held.set(r.name, r.version);
    last = { nonce, systemVersionInfo, resources: changed.map(({ name, version }) => ({ name, version })) };
    ctx.observer.pushed(last.resources);
    ctx.logger.debug({ systemVersionInfo, resources: last.resources, removed }, "sent");
  }

  function handle(request: DeltaDiscoveryRequest): Promise<void> | void {
    if (request.typeUrl !== "" && request.typeUrl !== ctx.typeUrl) {
      throw spindleError("ERR_XDS_TYPE_URL", `this service serves ${ctx.typeUrl}, not ${request.typeUrl}`);
    }
    if (request.responseNonce !== "") {
      if (last !== undefined && request.responseNonce === last.nonce) acknowledge(request, last);
      else ctx.logger.debug({ nonce: request.responseNonce }, "ignoring ACK/NACK with a stale nonce");
    }
    const added = new Set<string>();
    for (const name of request.resourceNamesSubscribe) {
      if (!subscribed.has(name)) added.add(name);
      subscribed.add(name);
    }
    for (const name of request.resourceNamesUnsubscribe) {
      subscribed.delete(name);
      added.delete(name);
      held.delete(name);
      nacked.delete(name);
    }
    if (first) {
      first = false;
      // The client already holds these (a reconnect): only differing versions are sent.
      for (const [name, version] of Object.entries(request.initialResourceVersions)) {
        if (subscribed.has(name)) held.set(name, version);
      }
    }
    if (added.size === 0 && request.resourceNamesUnsubscribe.length === 0) return;
    return refresh(added);
  }

  function acknowledge(request: DeltaDiscoveryRequest, response: NonNullable<typeof last>): void {
    if (request.errorDetail !== undefined) {
      for (const r of response.resources) nacked.set(r.name, r.version);
      ctx.observer.nacked(response.resources, request.errorDetail.message);
      ctx.warnLimited(
        `nack:${response.systemVersionInfo}`,
        { systemVersionInfo: response.systemVersionInfo, resources: response.resources, code: request.errorDetail.code, error: request.errorDetail.message },
        "client rejected (NACK) a response; not resending the same versions",
      );
    } else {
      ctx.observer.acked(response.resources, response.systemVersionInfo);
    }
  }

  return {
    onRequest: (request) => queue.run(() => handle(request)),
    onChange: () => queue.run(() => refresh(new Set())),
    idle: () => queue.idle(),
    close() {
      queue.stop();
      ctx.observer.closed();
    },
  };
}
