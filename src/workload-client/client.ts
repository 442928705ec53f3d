// A plain grpc-js SPIFFE Workload API client (Workload API standard) that works against any
// SPIFFE agent: every call carries `workload.spiffe.io: true`, streams decode each message into
// DER lists, and failures become ERR_WORKLOAD_API_CALL with the agent's status and reason.
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { spindleError, SpindleError } from "../common/errors.js";
import { grpcServiceDefinition } from "../transport/grpc-service.js";
import { splitConcatenatedDer } from "../common/pem.js";
import { checkSocketDirectory } from "../transport/socket-dir.js";
import {
  JWTBundlesRequestSchema,
  JWTSVIDRequestSchema,
  SpiffeWorkloadAPI,
  ValidateJWTSVIDRequestSchema,
  X509BundlesRequestSchema,
  X509SVIDRequestSchema,
  type JWTBundlesResponse,
  type JWTSVIDResponse,
  type ValidateJWTSVIDResponse,
  type X509BundlesResponse,
  type X509SVIDResponse,
} from "../gen/workload_pb.js";
import { workloadApiTarget } from "./endpoint.js";

export interface X509SvidDocument {
  readonly spiffeId: string;
  /** Leaf first. */
  readonly chainDer: readonly Buffer[];
  readonly privateKeyPkcs8Der: Buffer;
  readonly bundleDer: readonly Buffer[];
  readonly hint: string;
}

export interface X509Context {
  readonly svids: readonly X509SvidDocument[];
  /** Keyed by `spiffe://<td>`. */
  readonly federatedBundles: ReadonlyMap<string, readonly Buffer[]>;
}

export interface WorkloadApiWatch {
  cancel(): void;
}

export interface WorkloadApiClient {
  fetchX509Context(): Promise<X509Context>;
  watchX509Context(onUpdate: (ctx: X509Context) => void, onError: (err: SpindleError) => void): WorkloadApiWatch;
  /** X.509 bundles keyed by `spiffe://<td>`. */
  fetchX509Bundles(): Promise<ReadonlyMap<string, readonly Buffer[]>>;
  /** JWT bundles (JWKS JSON text) keyed by `spiffe://<td>`. */
  fetchJwtBundles(): Promise<ReadonlyMap<string, string>>;
  fetchJwtSvids(audience: readonly string[], spiffeId?: string): Promise<JWTSVIDResponse["svids"]>;
  validateJwtSvid(audience: string, token: string): Promise<ValidateJWTSVIDResponse>;
  close(): void;
}

export interface WorkloadApiClientOptions {
  /** `unix:///path`, `tcp://ip:port` or an absolute socket path. */
  address: string;
  /** Per-call deadline for one-shot calls, ms. Default 10 s. */
  timeoutMs?: number;
  /**
   * Owners trusted for the directories of a unix socket besides root and this process's uid
   * (the agent's service user when it is neither). Every call first checks the directories.
   */
  trustedSocketOwners?: readonly number[];
}

type Stream<T> = grpc.ClientReadableStream<T>;
type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void;

export function decodeX509Context(res: X509SVIDResponse): X509Context {
  return {
    svids: res.svids.map((s) => ({
      spiffeId: s.spiffeId,
      chainDer: splitConcatenatedDer(s.x509Svid),
      privateKeyPkcs8Der: Buffer.from(s.x509SvidKey),
      bundleDer: splitConcatenatedDer(s.bundle),
      hint: s.hint,
    })),
    federatedBundles: new Map(Object.entries(res.federatedBundles).map(([td, der]) => [td, splitConcatenatedDer(der)])),
  };
}

function callError(rpc: string, err: grpc.ServiceError | Error): SpindleError {
  const code = "code" in err && typeof err.code === "number" ? err.code : grpc.status.UNKNOWN;
  const reason = "details" in err && typeof err.details === "string" && err.details !== "" ? err.details : err.message;
  return spindleError("ERR_WORKLOAD_API_CALL", `${rpc} failed: ${grpc.status[code] ?? code}: ${reason}`, { cause: err, details: { rpc, grpcCode: code } });
}

export function createWorkloadApiClient(options: WorkloadApiClientOptions): WorkloadApiClient {
  const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(SpiffeWorkloadAPI), "SpiffeWorkloadAPI");
  const target = workloadApiTarget(options.address);
  const client = new Client(target, grpc.credentials.createInsecure()) as unknown as Record<string, (...args: unknown[]) => unknown>;
  const socketPath = target.startsWith("unix://") ? target.slice("unix://".length) : undefined;
  // Before every call (grpc-js reconnects by itself): a socket in a directory another user can
  // replace is refused with ERR_SOCKET_DIR_UNSAFE; a missing one is not connected to (someone
  // could create it meanwhile), which callers retry like the agent's Unavailable.
  const guard = (rpc: string): SpindleError | undefined => {
    if (socketPath === undefined) return undefined;
    try {
      if (checkSocketDirectory(socketPath, { trustedUids: options.trustedSocketOwners }) === "present") return undefined;
    } catch (err) {
      return SpindleError.from(err);
    }
    return spindleError("ERR_WORKLOAD_API_CALL", `${rpc} failed: UNAVAILABLE: no socket at ${socketPath} (is the agent running?)`, {
      details: { rpc, grpcCode: grpc.status.UNAVAILABLE },
    });
  };
  const timeoutMs = options.timeoutMs ?? 10_000;
  const metadata = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    md.set("workload.spiffe.io", "true");
    return md;
  };
  const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + timeoutMs });

  function first<T>(rpc: string, open: () => Stream<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const refused = guard(rpc);
      if (refused !== undefined) return reject(refused);
      const stream = open();
      let done = false;
      stream.on("data", (msg: T) => {
        if (done) return;
        done = true;
        resolve(msg);
        stream.cancel();
      });
      stream.on("error", (err: grpc.ServiceError) => {
        if (!done) reject(callError(rpc, err));
        done = true;
      });
      stream.on("end", () => {
        if (!done) reject(spindleError("ERR_WORKLOAD_API_CALL", `${rpc} failed: the stream ended without a message`));
        done = true;
      });
    });
  }

  function unary<Req, Res>(rpc: string, method: string, req: Req): Promise<Res> {
    const fn = client[method]!.bind(client) as Unary<Req, Res>;
    const refused = guard(rpc);
    if (refused !== undefined) return Promise.reject(refused);
    return new Promise((resolve, reject) => fn(req, metadata(), deadline(), (err, res) => (err !== null ? reject(callError(rpc, err)) : resolve(res!))));
  }

  const open = <T>(method: string, req: unknown, opts: grpc.CallOptions = deadline()) => client[method]!(req, metadata(), opts) as Stream<T>;

  return {
    async fetchX509Context() {
      return decodeX509Context(await first<X509SVIDResponse>("FetchX509SVID", () => open("fetchX509SVID", create(X509SVIDRequestSchema))));
    },
    watchX509Context(onUpdate, onError) {
      const refused = guard("FetchX509SVID");
      if (refused !== undefined) {
        let cancelled = false;
        queueMicrotask(() => cancelled || onError(refused));
        return { cancel: () => void (cancelled = true) };
      }
      const stream = open<X509SVIDResponse>("fetchX509SVID", create(X509SVIDRequestSchema), {});
      // Settles once: grpc-js may emit "end" after "error".
      let over = false;
      const stop = (err: SpindleError) => {
        if (over) return;
        over = true;
        onError(err);
      };
      stream.on("data", (msg: X509SVIDResponse) => {
        if (!over) onUpdate(decodeX509Context(msg));
      });
      stream.on("error", (err: grpc.ServiceError) => stop(callError("FetchX509SVID", err)));
      stream.on("end", () => stop(spindleError("ERR_WORKLOAD_API_CALL", "FetchX509SVID failed: the agent ended the stream")));
      return {
        cancel() {
          over = true;
          stream.cancel();
        },
      };
    },
    async fetchX509Bundles() {
      const res = await first<X509BundlesResponse>("FetchX509Bundles", () => open("fetchX509Bundles", create(X509BundlesRequestSchema)));
      return new Map(Object.entries(res.bundles).map(([td, der]) => [td, splitConcatenatedDer(der)]));
    },
    async fetchJwtBundles() {
      const res = await first<JWTBundlesResponse>("FetchJWTBundles", () => open("fetchJWTBundles", create(JWTBundlesRequestSchema)));
      return new Map(Object.entries(res.bundles).map(([td, json]) => [td, Buffer.from(json).toString("utf8")]));
    },
    async fetchJwtSvids(audience, spiffeId) {
      const res = await unary<unknown, JWTSVIDResponse>("FetchJWTSVID", "fetchJWTSVID", create(JWTSVIDRequestSchema, { audience: [...audience], spiffeId: spiffeId ?? "" }));
      return res.svids;
    },
    validateJwtSvid(audience, token) {
      return unary("ValidateJWTSVID", "validateJWTSVID", create(ValidateJWTSVIDRequestSchema, { audience, svid: token }));
    },
    close: () => (client as unknown as grpc.Client).close(),
  };
}
