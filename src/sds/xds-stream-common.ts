// Pieces shared by the SotW and Delta stream state machines.
import { randomUUID } from "node:crypto";
import { SpindleError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { asUnavailable, type ResolvedResource, type ResourceResolver, type UnavailableResource } from "./xds-resource.js";

/** A resource as the client holds it: name and content version. */
export interface ResourceVersion {
  readonly name: string;
  readonly version: string;
}

/** Receives what a stream did; metrics and the Envoy table implement it. */
export interface XdsStreamObserver {
  pushed(resources: readonly ResourceVersion[]): void;
  acked(resources: readonly ResourceVersion[], versionInfo: string): void;
  nacked(resources: readonly ResourceVersion[], message: string): void;
  /** A requested name became unavailable on this stream (once until it resolves again). */
  unavailable(resource: UnavailableResource): void;
  /** The stream ended; forget what it held. */
  closed(): void;
}

export interface XdsStreamContext<Response> {
  readonly typeUrl: string;
  readonly resolver: ResourceResolver;
  /** Child logger already carrying the stream id, node id and caller identity. */
  readonly logger: Logger;
  readonly observer: XdsStreamObserver;
  send(response: Response): void;
  /** Ends the stream with the error's gRPC status (the message names the resource). */
  fail(err: SpindleError): void;
  /** The change keys this stream now depends on (replaces the previous set). */
  setDependencies(keys: ReadonlySet<string>): void;
  /**
   * A warning that may repeat on every stream of the same caller: written once per window for the
   * caller and `key`, on the stream's logger (docs/logging.md).
   */
  warnLimited(key: string, fields: Record<string, unknown>, msg: string): void;
}

/** The surface the transport drives. */
export interface XdsStreamMachine<Request> {
  onRequest(request: Request): void;
  /** Something this stream depends on changed: re-resolve and push what differs. */
  onChange(): void;
  /** Resolves when every queued step has run (tests, shutdown). */
  idle(): Promise<void>;
  close(): void;
}

/**
 * Resolves every name on its own. A name the caller cannot have now is not an error of the stream
 * (Envoy shares streams between resources and cannot tell "not yet" from a failure): it is
 * returned in `unavailable` with the change keys after which it may resolve. Any other failure
 * rejects.
 */
export async function resolveAll(resolver: ResourceResolver, names: readonly string[]): Promise<{ resolved: ResolvedResource[]; unavailable: UnavailableResource[] }> {
  const results = await Promise.allSettled(names.map((n) => resolver.resolve(n)));
  const resolved: ResolvedResource[] = [];
  const missing: UnavailableResource[] = [];
  results.forEach((result, i) => {
    if (result.status === "fulfilled") return void resolved.push(result.value);
    const u = asUnavailable(names[i]!, result.reason);
    if (u === undefined) throw SpindleError.from(result.reason);
    missing.push(u);
  });
  return { resolved, unavailable: missing };
}

/**
 * Logs each unavailable name once per stream (warn, on the stream's logger, which carries the
 * caller's selectors; rate-limited across the caller's streams) and counts it; a name that
 * resolves again is forgotten, so losing it later is reported again.
 */
export function createUnavailableReporter(ctx: Pick<XdsStreamContext<unknown>, "warnLimited" | "observer">): (unavailable: readonly UnavailableResource[], resolved: readonly { name: string }[]) => void {
  const reported = new Set<string>();
  return (unavailable, resolved) => {
    for (const r of resolved) reported.delete(r.name);
    for (const u of unavailable) {
      if (reported.has(u.name)) continue;
      reported.add(u.name);
      ctx.observer.unavailable(u);
      ctx.warnLimited(`unavailable:${u.name}:${u.error.code}`, { resource: u.name, code: u.error.code, err: u.error.message }, "requested resource is not available to this caller; the stream stays open and it is sent when it appears");
    }
  };
}

/** A fresh random DiscoveryResponse.nonce per response; randomUUID draws from a batched entropy cache. */
export function newNonce(): string {
  return randomUUID();
}

/**
 * Runs steps one at a time so a request and a rotation push never interleave; a failing step
 * ends the stream through `fail` and drops the rest. Synchronous steps (an ACK) run at once;
 * the queue only waits on steps that return a promise.
 */
export function createSerialQueue(fail: (err: SpindleError) => void): { run(step: () => Promise<void> | void): void; idle(): Promise<void>; stop(): void } {
  const pending: (() => Promise<void> | void)[] = [];
  const waiters: (() => void)[] = [];
  let running = false;
  let stopped = false;

  const abort = (err: unknown) => {
    stopped = true;
    pending.length = 0;
    running = false;
    fail(SpindleError.from(err));
    settle();
  };
  const settle = () => {
    for (const w of waiters.splice(0)) w();
  };
  const drain = (): void => {
    running = true;
    while (!stopped && pending.length > 0) {
      const step = pending.shift()!;
      let result: Promise<void> | void;
      try {
        result = step();
      } catch (err) {
        return abort(err);
      }
      if (result instanceof Promise) {
        result.then(drain, abort);
        return;
      }
    }
    running = false;
    settle();
  };

  return {
    run(step) {
      if (stopped) return;
      pending.push(step);
      if (!running) drain();
    },
    idle: () => (running ? new Promise<void>((resolve) => waiters.push(resolve)) : Promise.resolve()),
    stop() {
      stopped = true;
      pending.length = 0;
      settle();
    },
  };
}

export function dedupe(names: readonly string[]): string[] {
  return [...new Set(names)];
}

export function sameKeys(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((x) => set.has(x));
}
