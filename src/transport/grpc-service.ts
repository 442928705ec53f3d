// grpc-js service definitions derived from protobuf-es service descriptors (docs/design/
// agent-socket.md): the generated DescService already knows every method's path, kind and message
// schemas, so one helper turns it into the ServiceDefinition grpc-js wants, with
// toBinary/fromBinary as the codecs. No proto-loader, no second copy of the .proto files. The same
// definition serves `server.addService` and `makeGenericClientConstructor` (tests drive services as
// Envoy would). A handler may write a response it already encoded (a Uint8Array): hot paths that
// send the same resources to thousands of streams encode them once.
import { fromBinary, toBinary, type DescService, type MessageShape } from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/**
 * What a server's requestDeserialize yields for bytes that are not a message of the request type.
 * grpc-js answers a throwing deserializer INTERNAL; it is the caller's fault, so the agent socket
 * (grpc-socket-server.ts) answers this value INVALID_ARGUMENT before any handler sees it.
 */
export class UndecodableRequest {
  constructor(
    readonly typeName: string,
    readonly reason: string,
  ) {}
}

/** Builds the grpc-js ServiceDefinition of `service`, keyed by the methods' localName (camelCase). */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const input = method.input;
    const output = method.output;
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: (message: MessageShape<typeof input>) => bufferView(toBinary(input, message)),
      requestDeserialize: (bytes: Buffer) => {
        try {
          return fromBinary(input, bytes);
        } catch (err) {
          return new UndecodableRequest(input.typeName, (err as Error).message) as unknown as MessageShape<typeof input>;
        }
      },
      responseSerialize: (message: MessageShape<typeof output> | Uint8Array) =>
        bufferView(message instanceof Uint8Array ? message : toBinary(output, message)),
      responseDeserialize: (bytes: Buffer) => fromBinary(output, bytes),
    } satisfies MethodDefinition<MessageShape<typeof input>, MessageShape<typeof output> | Uint8Array> as MethodDefinition<unknown, unknown>;
  }
  return definition as ServiceDefinition;
}

// grpc-js wants a Buffer; wrap toBinary's Uint8Array without copying.
function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
