// A real agent socket (Workload API, SDS, ECDS, health on one grpc-socket-server) in its own
// process, for the crash and fuzz suites: a crash shows up as this process exiting. Identities are
// granted to the uid given as argv[2] only; every other caller is unregistered. Prints one line,
// `ready <socket path>`, then serves until SIGTERM. Answers `rss` on stdin with its RSS in bytes.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { createGrpcSocketServer } from "../../src/transport/grpc-socket-server.js";
import { createLogger } from "../../src/common/logger.js";
import { addWorkloadApi } from "../../src/agent/workload-api/index.js";
import { FakeIdentitySource, createPeerUidAttestor } from "../support/fake-identity-source.js";
import { createEcdsService, createSdsService, createXdsMetrics } from "../../src/sds/index.js";
import { FakeSecretSource, createFakeAttestor, createTestPki, uidSelector } from "../integration/sds-fixtures.js";
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { RBACSchema } from "../../src/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";

const registeredUid = Number(process.argv[2] ?? process.getuid!());
const dir = mkdtempSync(join(tmpdir(), "spindle-fuzz-"));
chmodSync(dir, 0o755); // the unregistered fuzz client runs as another uid
const socketPath = join(dir, "agent.sock");
// Warnings and errors go to stderr so a failing run shows what the agent logged.
const logger = createLogger({ level: process.env["FUZZ_TARGET_LOG"] === "debug" ? "debug" : "error", destination: { write: (l: string) => void process.stderr.write(l) } });
const server = createGrpcSocketServer({ socketPath, logger });
const identities = new FakeIdentitySource();
identities.grant(`unix:uid:${registeredUid}`, "spiffe://example.org/registered");
addWorkloadApi(server, { source: identities, attestor: createPeerUidAttestor(), logger });
const secrets = new FakeSecretSource(createTestPki());
secrets.grant(uidSelector(registeredUid), "spiffe://example.org/registered");
const rbacFilter = anyPack(RBACSchema, create(RBACSchema, {}));
const metrics = createXdsMetrics({ registry: new Registry() });
const sds = createSdsService({ source: secrets, attestor: createFakeAttestor(), logger, metrics, peerCredentials: server.peerCredentials });
server.addService(sds.definition, sds.implementation);
const ecds = createEcdsService({ source: { get: (name) => (name === "spindle.rbac.inbound" ? rbacFilter : undefined), onChange: () => () => {} }, attestor: createFakeAttestor(), logger, metrics, peerCredentials: server.peerCredentials });
server.addService(ecds.definition, ecds.implementation);
await server.start();
process.stdout.write(`ready ${socketPath}\n`);
process.stdin.setEncoding("utf8");
process.stdin.on("data", (line: string) => {
  if (line.trim() === "rss") process.stdout.write(`rss ${process.memoryUsage().rss} connections ${server.connectionCount()}\n`);
});
process.once("SIGTERM", () => {
  sds.close();
  ecds.close();
  void server.close(100).then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
