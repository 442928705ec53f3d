// The standard gRPC health service (grpc.health.v1.Health: Check and Watch) on the agent socket,
// so Envoy and orchestrators can probe the socket itself. Its two messages are tiny
// (HealthCheckRequest{service = 1: string}, HealthCheckResponse{status = 1: enum}), so they are
// encoded here with protobuf-es's wire helpers instead of generating code for them.
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";

/** grpc.health.v1.HealthCheckResponse.ServingStatus. */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
type Status = (typeof ServingStatus)[keyof typeof ServingStatus];

export interface HealthServiceOptions {
  /** Service names answered besides "" (the whole socket). */
  services: readonly string[];
  /** Whether the agent can serve identities now (first sync done). */
  serving(): boolean;
  /** Called on every readiness change; returns the unsubscriber. */
  onChange(listener: () => void): () => void;
}

export interface HealthService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
}

// Messages are objects, never bare values: grpc-js treats a falsy request ("") as no request at all.
export interface HealthCheckRequest {
  service: string;
}
export interface HealthCheckResponse {
  status: Status;
}

function decodeRequest(bytes: Buffer): HealthCheckRequest {
  const r = new BinaryReader(bytes);
  let service = "";
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) service = r.string();
    else r.skip(wire);
  }
  return { service };
}

const encodeResponse = (m: HealthCheckResponse): Buffer => Buffer.from(new BinaryWriter().tag(1, WireType.Varint).int32(m.status).finish());

const method = (name: string, responseStream: boolean): grpc.MethodDefinition<HealthCheckRequest, HealthCheckResponse> => ({
  path: `/grpc.health.v1.Health/${name}`,
  originalName: name,
  requestStream: false,
  responseStream,
  requestSerialize: (m: HealthCheckRequest) => Buffer.from(new BinaryWriter().tag(1, WireType.LengthDelimited).string(m.service).finish()),
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: (b: Buffer) => {
    const r = new BinaryReader(b);
    let status: Status = ServingStatus.UNKNOWN;
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === 1 && wire === WireType.Varint) status = r.int32() as Status;
      else r.skip(wire);
    }
    return { status };
  },
});

export const HEALTH_SERVICE_DEFINITION: grpc.ServiceDefinition = { check: method("Check", false), watch: method("Watch", true) } as grpc.ServiceDefinition;

export function createHealthService(options: HealthServiceOptions): HealthService {
  const known = new Set(["", ...options.services]);
  const statusOf = (service: string): Status | undefined =>
    known.has(service) ? (options.serving() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING) : undefined;

  return {
    definition: HEALTH_SERVICE_DEFINITION,
    implementation: {
      check(call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: grpc.sendUnaryData<HealthCheckResponse>) {
        const status = statusOf(call.request.service);
        if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
        else callback(null, { status });
      },
      watch(call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) {
        // Per the health protocol, an unknown service is reported (SERVICE_UNKNOWN), not an error.
        let last: Status | undefined;
        const send = () => {
          const status = statusOf(call.request.service) ?? ServingStatus.SERVICE_UNKNOWN;
          if (status !== last) call.write({ status });
          last = status;
        };
        send();
        const unsubscribe = options.onChange(send);
        call.once("cancelled", unsubscribe);
        call.once("close", unsubscribe);
      },
    },
  };
}
