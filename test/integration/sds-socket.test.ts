// The agent socket server: SO_PEERCRED credentials reach handlers (through getPeer and through an
// interceptor's getConnectionInfo), socket file handling, failure reporting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import net from "node:net";
import { dirname } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { DiscoveryResponseSchema, type DiscoveryRequest, type DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { SecretDiscoveryService } from "../../src/gen/envoy/service/secret/v3/sds_pb.js";
import { grpcServiceDefinition } from "../../src/transport/grpc-service.js";
import { createGrpcSocketServer } from "../../src/transport/grpc-socket-server.js";
import { createSilentLogger } from "../../src/common/logger.js";
import { SpindleError } from "../../src/common/errors.js";
import type { PeerCredentials } from "../../src/transport/peer-cred.js";
import { createSdsClient, sotwRequest, tempSocketPath } from "./sds-fixtures.js";

const logger = createSilentLogger();

test("a handler sees the SO_PEERCRED credentials of the calling process", async (t) => {
  const tmp = tempSocketPath("sock");
  t.after(() => tmp.cleanup());
  const fromInterceptor: (PeerCredentials | undefined)[] = [];
  const server = createGrpcSocketServer({
    socketPath: tmp.path,
    logger,
    grpcOptions: {
      interceptors: [
        (_method, call) => {
          fromInterceptor.push(server.peerCredentials(call.getConnectionInfo()));
          return new grpc.ServerInterceptingCall(call);
        },
      ],
    },
  });
  server.addService(grpcServiceDefinition(SecretDiscoveryService), {
    fetchSecrets: (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: grpc.sendUnaryData<DiscoveryResponse>) => {
      const peer = server.peerCredentials(call);
      cb(null, create(DiscoveryResponseSchema, { versionInfo: JSON.stringify(peer) }));
    },
  });
  await server.start();
  t.after(() => server.close(50));
  assert.equal(statSync(tmp.path).mode & 0o777, 0o777, "public socket is world-writable");

  const client = createSdsClient(tmp.path);
  t.after(() => client.close());
  const response = await new Promise<DiscoveryResponse>((resolve, reject) =>
    client.makeUnaryRequest(
      "/envoy.service.secret.v3.SecretDiscoveryService/FetchSecrets",
      (m: DiscoveryRequest) => Buffer.from(grpcServiceDefinition(SecretDiscoveryService).fetchSecrets!.requestSerialize(m)),
      (b: Buffer) => grpcServiceDefinition(SecretDiscoveryService).fetchSecrets!.responseDeserialize(b) as DiscoveryResponse,
      sotwRequest({ resourceNames: ["x"] }),
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
  const expected = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
  assert.deepEqual(JSON.parse(response.versionInfo), expected);
  assert.deepEqual(fromInterceptor, [expected]);
  assert.equal(server.connectionCount(), 1);
});

test("start() replaces a stale socket file, applies the mode, and refuses a live socket or a regular file", async (t) => {
  const tmp = tempSocketPath("sock");
  t.after(() => tmp.cleanup());
  mkdirSync(dirname(tmp.path), { recursive: true });
  // A crashed agent leaves its socket file behind: a child listens, then dies by SIGKILL.
  const child = spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(tmp.path)}, () => process.kill(process.pid, "SIGKILL"))`]);
  assert.equal(child.signal, "SIGKILL");
  assert.ok(statSync(tmp.path).isSocket(), "stale socket file left behind");
  const crashed = tmp.path;
  const s1 = createGrpcSocketServer({ socketPath: crashed, logger, mode: 0o700 });
  await s1.start();
  assert.equal(statSync(crashed).mode & 0o777, 0o700);

  const s2 = createGrpcSocketServer({ socketPath: crashed, logger });
  await assert.rejects(s2.start(), (err: unknown) => SpindleError.is(err, "ERR_SOCKET_LISTEN") && /another process is listening/.test(err.message));
  await s1.close(50);

  writeFileSync(crashed, "not a socket");
  const s3 = createGrpcSocketServer({ socketPath: crashed, logger });
  await assert.rejects(s3.start(), (err: unknown) => SpindleError.is(err, "ERR_SOCKET_LISTEN") && /is not a socket/.test(err.message));
});

test("a connection whose credentials cannot be read is closed before any RPC", async (t) => {
  const tmp = tempSocketPath("sock");
  t.after(() => tmp.cleanup());
  const server = createGrpcSocketServer({
    socketPath: tmp.path,
    logger,
    readPeerCredentials: () => {
      throw new SpindleError("ERR_PEER_CREDENTIALS", "no creds");
    },
  });
  server.addService(grpcServiceDefinition(SecretDiscoveryService), {});
  await server.start();
  t.after(() => server.close(50));
  const closed = await new Promise<boolean>((resolve) => {
    const c = net.connect(tmp.path);
    c.on("close", () => resolve(true));
    c.on("error", () => {});
  });
  assert.ok(closed);
  assert.equal(server.connectionCount(), 0);
});
