// The agent's connection to the server's agent API (gRPC over HTTP/2, TLS 1.3, connect-node):
// one or more server addresses tried in order with failover (past unreachable replicas and past
// replicas that answer "try again": Unavailable, ResourceExhausted), the server authenticated by its
// SPIFFE ID (spiffe://<td>/spindle/server) against the own trust domain's X.509 authorities, and
// the agent's current SVID as the client certificate. Trust material and identity are replaced
// when they rotate; sessions built on the old ones are closed.
import type { PeerCertificate } from "node:tls";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { GrpcStatus, isErrorCode, spindleError, SpindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { certsToPem } from "../../common/pem.js";
import { AgentService } from "../../gen/spindle/agent/v1/agent_pb.js";
import { ERROR_CODE_KEY } from "../../transport/wire-errors.js";
import type { WorkloadKey } from "../cache/workload-key.js";

/** The trailer in which the server reports its Spindle error code. */
export const ERROR_CODE_TRAILER = ERROR_CODE_KEY;

export interface ServerConnectionOptions {
  /** `host:port` of each server replica, tried in this order; the last one that answered is tried first. */
  addresses: readonly string[];
  trustDomain: string;
  logger: Logger;
  /** Per-call deadline; default 30 s. */
  timeoutMs?: number;
}

export interface AgentIdentity {
  readonly chainDer: readonly Uint8Array[];
  readonly key: WorkloadKey;
}

export type AgentApiClient = Client<typeof AgentService>;

export interface ServerConnection {
  /** The own trust domain's X.509 authorities (DER); the server's certificate must chain to one. */
  setTrust(x509AuthoritiesDer: readonly Uint8Array[]): void;
  /** Whether setTrust was called (false before bootstrap). */
  readonly hasTrust: boolean;
  /** The client certificate for every RPC but Attest. */
  setIdentity(identity: AgentIdentity | undefined): void;
  /**
   * Runs `fn` against each address until one answers. `insecure` (Attest during an explicitly
   * allowed insecure bootstrap only) skips verification of the server's certificate. A definitive
   * answer (success or refusal) is final; transport failures and transient answers (see
   * isTransientServerAnswer) move on to the next address. When every address failed and at least
   * one answered transiently, that answer is thrown (with the longest retry-after hint of them);
   * when none answered, ERR_AGENT_SERVER_UNREACHABLE. After close(), every call rejects.
   */
  call<T>(rpc: string, fn: (client: AgentApiClient, callOptions: { signal: AbortSignal }) => Promise<T>, opts?: { anonymous?: boolean; insecure?: boolean }): Promise<T>;
  close(): void;
}

export function createServerConnection(options: ServerConnectionOptions): ServerConnection {
  if (options.addresses.length === 0) throw new TypeError("createServerConnection: at least one server address is required");
  const serverId = `spiffe://${options.trustDomain}/spindle/server`;
  const logger = options.logger.child({ component: "server-client" });
  const timeoutMs = options.timeoutMs ?? 30_000;
  let trustPem: string | undefined;
  let identity: AgentIdentity | undefined;
  // key: `${address}|${mode}` -> session manager and client, rebuilt when material changes.
  let sessions = new Map<string, { manager: Http2SessionManager; client: AgentApiClient }>();
  const retired = new Set<Http2SessionManager>();
  let preferred = 0;
  let closed = false;

  const closedError = (rpc: string) => spindleError("ERR_AGENT_SERVER_UNREACHABLE", `${rpc}: the connection to the server was closed (the agent is stopping)`, { details: { rpc, closed: true } });

  function resetSessions(): void {
    if (closed) return;
    const old = sessions;
    sessions = new Map();
    // Calls in flight on the old sessions get until their deadline to finish.
    for (const s of old.values()) {
      retired.add(s.manager);
      setTimeout(() => {
        s.manager.abort();
        retired.delete(s.manager);
      }, timeoutMs).unref();
    }
  }

  function clientFor(address: string, mode: "mtls" | "anonymous" | "insecure"): AgentApiClient {
    if (closed) throw new TypeError("clientFor: the server connection is closed");
    const key = `${address}|${mode}`;
    const existing = sessions.get(key);
    if (existing !== undefined) return existing.client;
    const baseUrl = `https://${address}`;
    const tls = {
      minVersion: "TLSv1.3" as const,
      ...(mode === "insecure" ? { rejectUnauthorized: false } : { ca: trustPem }),
      ...(mode === "mtls" && identity !== undefined
        ? { cert: certsToPem(identity.chainDer), key: identity.key.privateKey.export({ type: "pkcs8", format: "pem" }) as string }
        : {}),
      // The server is identified by its SPIFFE ID (URI SAN), not by the host name dialled.
      checkServerIdentity: (_host: string, cert: PeerCertificate) =>
        (cert.subjectaltname ?? "").split(", ").includes(`URI:${serverId}`)
          ? undefined
          : new Error(`the server's certificate is not for ${serverId} (SANs: ${cert.subjectaltname ?? "none"})`),
    };
    const manager = new Http2SessionManager(baseUrl, { idleConnectionTimeoutMs: 5 * 60_000 }, tls);
    const client = createClient(AgentService, createGrpcTransport({ baseUrl, sessionManager: manager }));
    sessions.set(key, { manager, client });
    return client;
  }

  return {
    setTrust(ders) {
      if (ders.length === 0) throw spindleError("ERR_BUNDLE_INVALID", "the trust bundle for the server holds no X.509 authority");
      const pem = certsToPem(ders);
      if (pem === trustPem) return;
      trustPem = pem;
      resetSessions();
    },
    get hasTrust() {
      return trustPem !== undefined;
    },
    setIdentity(next) {
      identity = next;
      resetSessions();
    },
    async call(rpc, fn, opts = {}) {
      if (closed) throw closedError(rpc);
      const mode = opts.insecure ? "insecure" : opts.anonymous || identity === undefined ? "anonymous" : "mtls";
      if (mode !== "insecure" && trustPem === undefined) throw new TypeError(`${rpc}: no trust bundle for the server yet`);
      const n = options.addresses.length;
      const failures: string[] = [];
      let transient: SpindleError | undefined;
      for (let i = 0; i < n; i++) {
        if (closed) throw closedError(rpc);
        const index = (preferred + i) % n;
        const address = options.addresses[index]!;
        // Our own deadline: connect's timeoutMs leaves a timer behind that delays process exit.
        const deadline = new AbortController();
        const timer = setTimeout(() => deadline.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
        try {
          const result = await fn(clientFor(address, mode), { signal: deadline.signal });
          if (index !== preferred) logger.info({ address, rpc }, "failed over to another server address");
          preferred = index;
          return result;
        } catch (err) {
          if (closed) throw closedError(rpc);
          const answered = serverAnswer(err);
          if (answered !== undefined && !isTransientServerAnswer(answered)) throw answered;
          if (answered !== undefined) {
            transient = longerRetryAfter(transient, answered);
            failures.push(`${address}: ${answered.code}: ${answered.message}`);
            if (n > 1) logger.info({ address, rpc, code: answered.code, reason: answered.message }, "server address answered with a transient error; trying the next one");
            continue;
          }
          const reason = describeTransportFailure(err);
          failures.push(`${address}: ${reason}`);
          if (n > 1) logger.debug({ address, rpc, reason }, "server address unreachable; trying the next one");
        } finally {
          clearTimeout(timer);
        }
      }
      if (transient !== undefined) {
        if (n === 1) throw transient;
        throw new SpindleError(transient.code, `${rpc}: no server could serve the request (${failures.join("; ")})`, { cause: transient, details: transient.details });
      }
      throw spindleError("ERR_AGENT_SERVER_UNREACHABLE", `${rpc}: no server answered (${failures.join("; ")})`, { details: { rpc } });
    },
    close() {
      closed = true;
      for (const s of sessions.values()) s.manager.abort();
      for (const m of retired) m.abort();
      sessions.clear();
      retired.clear();
    },
  };
}

/** A refusal the server sent (it carries our error code), as a SpindleError; undefined for transport failures. */
export function serverAnswer(err: unknown): SpindleError | undefined {
  if (err instanceof SpindleError) return err;
  if (!(err instanceof ConnectError)) return undefined;
  const code = err.metadata.get(ERROR_CODE_TRAILER);
  if (code === null) return undefined;
  if (!isErrorCode(code)) return spindleError("ERR_INTERNAL", `the server answered with an unknown error code ${code}: ${err.rawMessage}`);
  const retry = err.metadata.get("retry-after");
  return new SpindleError(code, err.rawMessage, retry === null ? {} : { details: { retryAfterSeconds: Number(retry) } });
}

/**
 * A server answer that means "not now" rather than "no": the server (or its datastore, CA or an
 * upstream such as the Kubernetes API for k8s_psat) is temporarily unable to serve, or a rate
 * limit was hit (details.retryAfterSeconds carries the hint). Anything the agent may retry,
 * possibly on another replica: every code reported as gRPC UNAVAILABLE or RESOURCE_EXHAUSTED
 * (ERR_UNAVAILABLE, ERR_DATASTORE, ERR_AUTHORITY_UNAVAILABLE, ERR_RESOURCE_EXHAUSTED, ...).
 * Refusals (invalid or used join token, banned agent, failed attestation) are not transient.
 */
export function isTransientServerAnswer(err: SpindleError): boolean {
  return err.grpcStatus === GrpcStatus.UNAVAILABLE || err.grpcStatus === GrpcStatus.RESOURCE_EXHAUSTED;
}

/** The retry-after hint (seconds) a transient answer carried, if any. */
export function retryAfterMs(err: SpindleError): number | undefined {
  const s = err.details["retryAfterSeconds"];
  return typeof s === "number" && Number.isFinite(s) && s > 0 ? s * 1000 : undefined;
}

function longerRetryAfter(a: SpindleError | undefined, b: SpindleError): SpindleError {
  if (a === undefined) return b;
  return (retryAfterMs(b) ?? 0) > (retryAfterMs(a) ?? 0) ? b : a;
}

function describeTransportFailure(err: unknown): string {
  if (err instanceof ConnectError) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    return `${Code[err.code] ?? err.code}: ${err.rawMessage}${cause}`;
  }
  return err instanceof Error ? err.message : String(err);
}
