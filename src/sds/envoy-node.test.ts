import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { NodeSchema } from "../gen/envoy/config/core/v3/base_pb.js";
import { nodeIdOf, supportsSpiffeValidator } from "./envoy-node.js";

const node = (major: number, minor: number, metadata?: Record<string, unknown>) =>
  create(NodeSchema, {
    id: "n1",
    userAgentVersionType: { case: "userAgentBuildVersion", value: { version: { majorNumber: major, minorNumber: minor, patch: 0 } } },
    ...(metadata === undefined ? {} : { metadata: metadata as never }),
  });

test("the SPIFFE validator goes to Envoy >= 1.18 unless its node metadata opts out", () => {
  assert.equal(supportsSpiffeValidator(undefined), true);
  assert.equal(supportsSpiffeValidator(create(NodeSchema, { id: "no-version" })), true);
  assert.equal(supportsSpiffeValidator(node(1, 18)), true);
  assert.equal(supportsSpiffeValidator(node(1, 31)), true);
  assert.equal(supportsSpiffeValidator(node(2, 0)), true);
  assert.equal(supportsSpiffeValidator(node(1, 17)), false);
  assert.equal(supportsSpiffeValidator(node(0, 9)), false);
  assert.equal(supportsSpiffeValidator(node(1, 30, { disable_spiffe_cert_validation: true })), false);
  assert.equal(supportsSpiffeValidator(node(1, 30, { disable_spiffe_cert_validation: "true" })), false);
  assert.equal(supportsSpiffeValidator(node(1, 30, { disable_spiffe_cert_validation: false })), true);
});

test("nodeIdOf falls back to 'unknown'", () => {
  assert.equal(nodeIdOf(undefined), "unknown");
  assert.equal(nodeIdOf(create(NodeSchema, {})), "unknown");
  assert.equal(nodeIdOf(node(1, 20)), "n1");
});
