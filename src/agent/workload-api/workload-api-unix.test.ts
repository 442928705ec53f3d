// The Workload API with the real unix attestor behind the real SO_PEERCRED reader: the test process
// is the caller, so its own uid decides what it gets.
import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createSilentLogger } from "../../common/logger.js";
import { createUnixAttestor, createWorkloadAttestor } from "../attestors/index.js";
import { createWorkloadApiClient } from "../../workload-client/index.js";
import { grpcCodeOf, startWorkloadApi } from "../../../test/support/workload-api-harness.js";
import { FakeIdentitySource } from "../../../test/support/fake-identity-source.js";

const logger = createSilentLogger();

describe("Workload API with the unix attestor", () => {
  it("gives the caller the identity of its uid, and PermissionDenied without key material to a uid with no entry", async () => {
    const uid = process.geteuid!();
    const source = new FakeIdentitySource();
    source.grant(`unix:uid:${uid + 1}`, "spiffe://example.org/other-user");
    const attestor = createWorkloadAttestor({ plugins: [createUnixAttestor({ logger })], logger });
    const api = await startWorkloadApi({ source, attestor });
    const client = createWorkloadApiClient({ address: `unix://${api.socketPath}` });
    try {
      await assert.rejects(client.fetchX509Context(), (e) => grpcCodeOf(e) === grpc.status.PERMISSION_DENIED && /no registration entry/.test((e as Error).message));
      await assert.rejects(client.fetchJwtSvids(["a"]), (e) => grpcCodeOf(e) === grpc.status.PERMISSION_DENIED);
      assert.equal(source.mints, 0);

      source.grant(`unix:uid:${uid}`, "spiffe://example.org/me");
      source.grant(`unix:path:${realpathSync(process.execPath)}`, "spiffe://example.org/node-binary");
      const ctx = await client.fetchX509Context();
      assert.deepEqual(ctx.svids.map((s) => s.spiffeId), ["spiffe://example.org/me", "spiffe://example.org/node-binary"]);
    } finally {
      client.close();
      await api.close();
    }
  });
});
