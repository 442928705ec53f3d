import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { DiscoveryResponseSchema, type DiscoveryResponse } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { SecretDiscoveryService } from "../gen/envoy/service/secret/v3/sds_pb.js";
import { grpcServiceDefinition } from "./grpc-service.js";

test("grpcServiceDefinition derives paths, streaming kinds and protobuf-es codecs from the descriptor", () => {
  const def = grpcServiceDefinition(SecretDiscoveryService);
  assert.deepEqual(Object.keys(def).sort(), ["deltaSecrets", "fetchSecrets", "streamSecrets"]);
  assert.equal(def.streamSecrets!.path, "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets");
  assert.deepEqual([def.streamSecrets!.requestStream, def.streamSecrets!.responseStream], [true, true]);
  assert.deepEqual([def.fetchSecrets!.requestStream, def.fetchSecrets!.responseStream], [false, false]);
  const message = create(DiscoveryResponseSchema, { versionInfo: "7", nonce: "n" });
  const bytes = def.fetchSecrets!.responseSerialize(message);
  assert.ok(Buffer.isBuffer(bytes));
  const back = def.fetchSecrets!.responseDeserialize(bytes) as DiscoveryResponse;
  assert.equal(back.versionInfo, "7");
  // Pre-encoded responses pass through untouched.
  assert.deepEqual(def.fetchSecrets!.responseSerialize(new Uint8Array([1, 2]) as never), Buffer.from([1, 2]));
});
