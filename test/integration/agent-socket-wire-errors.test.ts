// What the agent socket tells clients when a call fails (src/transport/wire-errors.ts): a message
// that does not decode is the caller's fault (INVALID_ARGUMENT, not grpc-js's INTERNAL), and an
// unexpected failure inside the agent is INTERNAL with a fixed text; its cause stays in the log.
import assert from "node:assert/strict";
import { connect as h2connect } from "node:http2";
import { connect } from "node:net";
import { after, before, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { addWorkloadApi } from "../../src/agent/workload-api/index.js";
import { FakeIdentitySource, createPeerUidAttestor } from "../support/fake-identity-source.js";
import { collect, header, rawWorkloadClient } from "../support/workload-api-harness.js";
import { createSilentLogger } from "../../src/common/logger.js";
import { X509SVIDRequestSchema, type X509SVIDResponse } from "../../src/gen/workload_pb.js";
import { FakeSecretSource, createTestPki, startTestAgent, type TestAgent } from "./sds-fixtures.js";

const SECRET_TEXT = "db password hunter2 at /var/lib/internal";
let agent: TestAgent;
const identities = new FakeIdentitySource();

before(async () => {
  identities.identitiesFor = () => {
    throw new TypeError(SECRET_TEXT);
  };
  agent = await startTestAgent(new FakeSecretSource(createTestPki()), { level: "silent", extensions: { get: () => undefined, onChange: () => () => {} } });
  addWorkloadApi(agent.server, { source: identities, attestor: createPeerUidAttestor(), logger: createSilentLogger() });
});
after(() => agent.close());

function rawCall(path: string, socketPath: string, body: Buffer, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const session = h2connect("http://localhost", { createConnection: () => connect(socketPath) });
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...extra });
    let headers: Record<string, string> = {};
    req.on("response", (h) => void (headers = h as Record<string, string>));
    req.on("data", () => undefined);
    req.on("trailers", (t) => void (headers = { ...headers, ...(t as Record<string, string>) }));
    req.on("end", () => {
      session.close();
      resolve(headers);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const GARBAGE = Buffer.concat([Buffer.from([0, 0, 0, 0, 6]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]);
const METHODS = [
  "/SpiffeWorkloadAPI/FetchX509SVID",
  "/SpiffeWorkloadAPI/FetchX509Bundles",
  "/SpiffeWorkloadAPI/FetchJWTSVID",
  "/SpiffeWorkloadAPI/FetchJWTBundles",
  "/SpiffeWorkloadAPI/ValidateJWTSVID",
  "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets",
  "/envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets",
  "/envoy.service.secret.v3.SecretDiscoveryService/FetchSecrets",
  "/envoy.service.extension.v3.ExtensionConfigDiscoveryService/StreamExtensionConfigs",
  "/envoy.service.extension.v3.ExtensionConfigDiscoveryService/DeltaExtensionConfigs",
  "/envoy.service.extension.v3.ExtensionConfigDiscoveryService/FetchExtensionConfigs",
];

it("answers an undecodable message to every Workload API, SDS and ECDS method INVALID_ARGUMENT with the code", async () => {
  for (const path of METHODS) {
    const t = await rawCall(path, agent.socketPath, GARBAGE, { "workload.spiffe.io": "true" });
    assert.equal(t["grpc-status"], String(grpc.status.INVALID_ARGUMENT), `${path}: ${decodeURIComponent(t["grpc-message"] ?? "")}`);
    assert.equal(t["spindle-error-code"], "ERR_INVALID_ARGUMENT", path);
    assert.match(decodeURIComponent(t["grpc-message"] ?? ""), /not a valid protobuf message/);
  }
});

it("never sends the text of an unexpected failure to a Workload API client", async () => {
  const wl = rawWorkloadClient(agent.socketPath);
  try {
    const stream = collect(wl["fetchX509SVID"]!(create(X509SVIDRequestSchema), header()) as grpc.ClientReadableStream<X509SVIDResponse>);
    const status = await stream.status;
    assert.equal(status?.code, grpc.status.INTERNAL);
    assert.doesNotMatch(status?.details ?? "", /hunter2|TypeError/);
    assert.match(status?.details ?? "", /internal error \(see the agent log\)/);
    assert.equal(status?.metadata?.get("spindle-error-code")[0], "ERR_INTERNAL");
  } finally {
    wl.close();
  }
});
