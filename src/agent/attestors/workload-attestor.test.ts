// Combining plugins: selectors of every plugin, fail-closed on any failure, each failure logged
// with the plugin's name, "process gone" reported over "runtime unreachable".
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { spindleError, SpindleError } from "../../common/errors.js";
import { createLogger } from "../../common/logger.js";
import { formatSelector } from "../../spiffe/selector.js";
import { createWorkloadAttestor, type WorkloadAttestorPlugin } from "./index.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
  return { logger, lines };
}
const peer = { pid: 4321, uid: 1000, gid: 1000 };
const ok = (name: string, ...values: string[]): WorkloadAttestorPlugin => ({ name, attest: async () => values.map((value) => ({ type: name, value })) });
const failing = (name: string, err: unknown): WorkloadAttestorPlugin => ({
  name,
  attest: async () => {
    throw err;
  },
});

describe("workload attestation across plugins", () => {
  it("combines the selectors of every plugin, in plugin order", async () => {
    const { logger } = capture();
    const attestor = createWorkloadAttestor({ plugins: [ok("unix", "uid:1000"), ok("k8s", "ns:shop", "sa:web"), ok("docker")], logger });
    assert.deepEqual((await attestor.attest(peer)).map(formatSelector), ["unix:uid:1000", "k8s:ns:shop", "k8s:sa:web"]);
  });

  it("fails closed when one plugin fails, logging it by name; the code keeps its status", async () => {
    const { logger, lines } = capture();
    const down = spindleError("ERR_WORKLOAD_ATTESTOR_UNAVAILABLE", "k8s workload attestor: cannot list pods from the kubelet at https://127.0.0.1:10250/pods: connect ECONNREFUSED");
    const attestor = createWorkloadAttestor({ plugins: [ok("unix", "uid:1000"), failing("k8s", down)], logger });
    await assert.rejects(attestor.attest(peer), (e) => e === down && (e as SpindleError).grpcStatus === 14);
    const warn = lines.find((l) => l["msg"] === "workload attestor failed; the call gets no identity");
    assert.equal(warn?.["attestor"], "k8s");
    assert.equal(warn?.["code"], "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE");
  });

  it("a vanished process outranks an unreachable runtime; unknown errors are wrapped with the plugin name", async () => {
    const { logger, lines } = capture();
    const gone = spindleError("ERR_WORKLOAD_ATTESTATION", "pid 4321 changed during attestation");
    const attestor = createWorkloadAttestor({ plugins: [failing("docker", spindleError("ERR_WORKLOAD_ATTESTOR_UNAVAILABLE", "docker down")), failing("unix", gone)], logger });
    await assert.rejects(attestor.attest(peer), (e) => e === gone);
    assert.equal(lines.filter((l) => l["msg"] === "workload attestor failed; the call gets no identity").length, 2);
    const odd = createWorkloadAttestor({ plugins: [ok("unix", "uid:1"), failing("k8s", new Error("boom"))], logger });
    await assert.rejects(odd.attest(peer), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /^k8s attestation of pid 4321 failed: boom/.test(e.message));
  });
});
