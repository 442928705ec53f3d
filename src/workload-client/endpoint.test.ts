import assert from "node:assert/strict";
import { it } from "node:test";
import { SpindleError } from "../common/errors.js";
import { workloadApiTarget } from "./endpoint.js";

it("maps SPIFFE_ENDPOINT_SOCKET forms to grpc-js targets and rejects everything else", () => {
  assert.equal(workloadApiTarget("unix:///run/agent/api.sock"), "unix:///run/agent/api.sock");
  assert.equal(workloadApiTarget("/run/agent/api.sock"), "unix:///run/agent/api.sock");
  assert.equal(workloadApiTarget("tcp://127.0.0.1:8081"), "127.0.0.1:8081");
  assert.equal(workloadApiTarget("tcp://[::1]:8081"), "[::1]:8081");
  for (const bad of ["unix://host/path", "unix:", "tcp://localhost:80", "tcp://127.0.0.1", "tcp://127.0.0.1:80/x", "http://127.0.0.1:80", "relative/path", "unix:///a?b=c"]) {
    assert.throws(() => workloadApiTarget(bad), (e) => SpindleError.is(e, "ERR_WORKLOAD_API_ENDPOINT"), bad);
  }
});
