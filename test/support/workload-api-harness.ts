// Test-only: a Workload API on a real temp Unix socket (the shared grpc-js socket server) plus a
// raw grpc-js client that can omit the security header.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { Clock } from "../../src/common/clock.js";
import { SpindleError } from "../../src/common/errors.js";
import { grpcServiceDefinition } from "../../src/transport/grpc-service.js";
import { createGrpcSocketServer, type GrpcSocketServer } from "../../src/transport/grpc-socket-server.js";
import { createSilentLogger, type Logger } from "../../src/common/logger.js";
import { SpiffeWorkloadAPI } from "../../src/gen/workload_pb.js";
import type { IdentitySource, WorkloadAttestor } from "../../src/agent/workload-api/contracts.js";
import { addWorkloadApi, type WorkloadApiService } from "../../src/agent/workload-api/service.js";

export interface WorkloadApiHarness {
  readonly socketPath: string;
  readonly server: GrpcSocketServer;
  readonly service: WorkloadApiService;
  close(): Promise<void>;
}

export async function startWorkloadApi(options: { source: IdentitySource; attestor: WorkloadAttestor; clock?: Clock; dir?: string; logger?: Logger }): Promise<WorkloadApiHarness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "spindle-wlapi-"));
  const socketPath = join(dir, "public", "api.sock");
  const logger = options.logger ?? createSilentLogger();
  const server = createGrpcSocketServer({ socketPath, logger });
  const service = addWorkloadApi(server, { source: options.source, attestor: options.attestor, logger, clock: options.clock });
  await server.start();
  return {
    socketPath,
    server,
    service,
    async close() {
      await server.close(100);
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type RawClient = Record<string, (...args: unknown[]) => unknown> & grpc.Client;

/** A grpc-js client of the Workload API that sends exactly the metadata it is given. */
export function rawWorkloadClient(socketPath: string): RawClient {
  const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(SpiffeWorkloadAPI), "SpiffeWorkloadAPI");
  return new Client(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as RawClient;
}

export function header(value = "true"): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("workload.spiffe.io", value);
  return md;
}

/** The gRPC status of a client error (raw ServiceError or the client's ERR_WORKLOAD_API_CALL). */
export function grpcCodeOf(err: unknown): number | undefined {
  if (err instanceof SpindleError) return err.details["grpcCode"] as number | undefined;
  return (err as { code?: number }).code;
}

/** Reads a server stream's messages until `count` arrived, or its status error. */
export function collect<T>(stream: grpc.ClientReadableStream<T>): { messages: T[]; next(): Promise<T>; status: Promise<grpc.ServiceError | undefined> } {
  const messages: T[] = [];
  const waiters: ((m: T) => void)[] = [];
  let read = 0;
  const status = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stream.on("error", (err: grpc.ServiceError) => resolve(err));
    stream.on("end", () => resolve(undefined));
  });
  stream.on("data", (m: T) => {
    messages.push(m);
    const w = waiters.shift();
    if (w !== undefined) {
      read++;
      w(m);
    }
  });
  return {
    messages,
    status,
    next() {
      if (read < messages.length) return Promise.resolve(messages[read++]!);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}
