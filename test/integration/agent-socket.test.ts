// One agent socket serving Envoy SDS and the SPIFFE Workload API side by side
// (docs/design/agent-socket.md): the `workload.spiffe.io` header is required on
// /SpiffeWorkloadAPI/* only, so Envoy's SDS calls, which never carry it, are served on the same
// socket.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { X509SVIDRequestSchema, type X509SVIDResponse } from "../../src/gen/workload_pb.js";
import { createSilentLogger } from "../../src/common/logger.js";
import { addWorkloadApi } from "../../src/agent/workload-api/index.js";
import { FakeIdentitySource, createPeerUidAttestor } from "../support/fake-identity-source.js";
import { collect, header, rawWorkloadClient } from "../support/workload-api-harness.js";
import { FakeSecretSource, createSdsClient, createTestPki, decodeSecret, startTestAgent, subscribeSotw, uidSelector, type TestAgent } from "./sds-fixtures.js";

const WEB = "spiffe://example.org/web";
let agent: TestAgent;
const identities = new FakeIdentitySource();

before(async () => {
  const secrets = new FakeSecretSource(createTestPki());
  secrets.grant(uidSelector(process.getuid!()), WEB);
  identities.grant(`unix:uid:${process.getuid!()}`, WEB);
  agent = await startTestAgent(secrets, { level: "silent" });
  addWorkloadApi(agent.server, { source: identities, attestor: createPeerUidAttestor(), logger: createSilentLogger() });
});
after(() => agent.close());

it("serves SDS without the Workload API header and the Workload API only with it, on one socket", async () => {
  const sds = createSdsClient(agent.socketPath);
  const wl = rawWorkloadClient(agent.socketPath);
  try {
    const stream = subscribeSotw(sds, "default");
    const response = await stream.next();
    assert.equal(decodeSecret(response.resources[0]!).name, "default");
    stream.close();

    const refused = collect(wl["fetchX509SVID"]!(create(X509SVIDRequestSchema), new grpc.Metadata()) as grpc.ClientReadableStream<X509SVIDResponse>);
    assert.equal((await refused.status)?.code, grpc.status.INVALID_ARGUMENT);
    const served = collect(wl["fetchX509SVID"]!(create(X509SVIDRequestSchema), header()) as grpc.ClientReadableStream<X509SVIDResponse>);
    assert.equal((await served.next()).svids[0]?.spiffeId, WEB);
  } finally {
    sds.close();
    wl.close();
  }
});
