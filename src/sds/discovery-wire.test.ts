import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { DiscoveryResponseSchema } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { encodeDiscoveryResponse } from "./discovery-wire.js";

test("encodeDiscoveryResponse writes exactly what toBinary(DiscoveryResponse) writes", () => {
  const resources = [
    create(AnySchema, { typeUrl: "type.googleapis.com/x.A", value: new Uint8Array([1, 2, 3]) }),
    create(AnySchema, { typeUrl: "type.googleapis.com/x.B", value: new Uint8Array(300).fill(7) }),
    create(AnySchema, { typeUrl: "type.googleapis.com/x.C", value: new Uint8Array(70_000).fill(9) }),
  ];
  const fields = { versionInfo: "42", typeUrl: "type.googleapis.com/x.A", nonce: "n-1-ü" };
  const bytes = encodeDiscoveryResponse({ ...fields, resources: resources.map((r) => toBinary(AnySchema, r)) });
  const expected = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { ...fields, resources }));
  assert.deepEqual(Buffer.from(bytes), Buffer.from(expected));
  const decoded = fromBinary(DiscoveryResponseSchema, bytes);
  assert.equal(decoded.resources[1]!.value.length, 300);
});
