// The k8s attestor against a fake kubelet: a real HTTPS server on 127.0.0.1 with a self-signed
// certificate made here, serving a PodList, and a fake procfs giving each test pid a cgroup.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { createFakeClock } from "../../../../test/support/fake-clock.js";
import { SpindleError } from "../../../common/errors.js";
import { createSilentLogger } from "../../../common/logger.js";
import { formatSelector } from "../../../spiffe/selector.js";
import { selectorProblem } from "../../../spiffe/selector-schema.js";
import { OID } from "../../../spiffe/certificate.js";
import { octets, oid, seq, tlv } from "../../../../test/support/spiffe/der-writer.js";
import { issueTestCertificate } from "../../../../test/support/spiffe/test-ca.js";
import { createK8sAttestor, parseK8sAttestorConfig } from "./index.js";

const logger = createSilentLogger();
const TOKEN = "kubelet-test-token";
const cid = (n: number) => n.toString(16).padStart(2, "0").repeat(32);
const POD_UID = "8f0e6d2c-1b3a-4c5d-9e7f-a1b2c3d4e5f6";
const NEW_POD_UID = "11111111-2222-4333-8444-555555555555";

function podList(extra: unknown[] = []) {
  return {
    kind: "PodList",
    apiVersion: "v1",
    items: [
      {
        metadata: { name: "web-7d9f", namespace: "shop", uid: POD_UID, labels: { app: "web", tier: "frontend" } },
        spec: {
          serviceAccountName: "web-sa",
          nodeName: "node-1",
          containers: [{ name: "app", image: "registry.example/web:1.2" }],
          initContainers: [{ name: "migrate", image: "registry.example/migrate:3" }],
          ephemeralContainers: [{ name: "debugger", image: "busybox:1.36" }],
        },
        status: {
          containerStatuses: [{ name: "app", containerID: `containerd://${cid(1)}`, image: "registry.example/web:1.2", imageID: "registry.example/web@sha256:abcd" }],
          initContainerStatuses: [{ name: "migrate", containerID: `containerd://${cid(2)}`, image: "registry.example/migrate:3", imageID: "registry.example/migrate@sha256:ef01" }],
          ephemeralContainerStatuses: [{ name: "debugger", containerID: `containerd://${cid(3)}`, image: "docker.io/library/busybox:1.36", imageID: "docker.io/library/busybox@sha256:9999" }],
        },
      },
      ...extra,
    ],
  };
}

const newPod = {
  metadata: { name: "job-x", namespace: "batch", uid: NEW_POD_UID },
  spec: { serviceAccountName: "default", nodeName: "node-1", containers: [{ name: "run", image: "job:1" }] },
  status: { containerStatuses: [{ name: "run", containerID: `cri-o://${cid(9)}`, image: "job:1", imageID: "job@sha256:77" }] },
};

/** A self-signed serving certificate for 127.0.0.1 (IP SAN, which the test CA helper lacks). */
function kubeletCertificate() {
  const san = seq(oid(OID.subjectAltName), octets(seq(tlv(0x82, Buffer.from("node-1")), tlv(0x87, Buffer.from([127, 0, 0, 1])))));
  const now = Date.now();
  return issueTestCertificate(
    undefined,
    { subject: "CN=node-1", notBefore: now - 60_000, notAfter: now + 3600_000, uris: [], basicConstraints: { ca: true }, keyUsage: 0x80 | 0x04, extKeyUsage: ["1.3.6.1.5.5.7.3.1"] },
    { rawExtensions: [san] },
  );
}

describe("k8s workload attestor", () => {
  let dir: string;
  let proc: string;
  let server: https.Server;
  let url: string;
  const requests: { auth: string | undefined; path: string | undefined }[] = [];
  let respond: (n: number) => { status: number; body: unknown } = () => ({ status: 200, body: podList() });
  const bootTime = Math.floor(Date.now() / 1000) - 3600;

  function addPid(pid: number, cgroup: string) {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), "stat"), `${pid} (app) S ${Array.from({ length: 18 }, () => "0").join(" ")} 6000 0\n`);
    writeFileSync(join(proc, String(pid), "cgroup"), cgroup);
  }

  const attestorWith = (config: Record<string, unknown> = {}) =>
    createK8sAttestor({ logger, procRoot: proc, config: { kubelet_url: url, kubelet_ca_path: join(dir, "ca.pem"), token_path: join(dir, "token"), retry_delay_ms: 20, ...config } });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "spindle-k8s-attestor-"));
    proc = join(dir, "proc");
    mkdirSync(proc);
    writeFileSync(join(proc, "stat"), `cpu 1 2\nbtime ${bootTime}\n`);
    const uidU = POD_UID.replaceAll("-", "_");
    addPid(101, `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice/cri-containerd-${cid(1)}.scope\n`);
    addPid(102, `12:memory:/kubepods/burstable/pod${POD_UID}/${cid(2)}\n11:pids:/kubepods/burstable/pod${POD_UID}/${cid(2)}\n`);
    addPid(103, `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidU}.slice/cri-containerd-${cid(3)}.scope\n`);
    addPid(104, "0::/user.slice/user-1000.slice/session-4.scope\n");
    addPid(105, `0::/system.slice/docker-${cid(5)}.scope\n`);
    addPid(109, `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${NEW_POD_UID.replaceAll("-", "_")}.slice/crio-${cid(9)}.scope\n`);
    addPid(110, `0::/kubepods.slice/kubepods-pod${uidU}.slice/cri-containerd-${cid(10)}.scope\n`);
    for (let i = 0; i < 20; i++) addPid(200 + i, `0::/kubepods.slice/kubepods-pod${uidU}.slice/cri-containerd-${cid(1)}.scope\n`);
    writeFileSync(join(dir, "token"), `${TOKEN}\n`);
    const cert = kubeletCertificate();
    writeFileSync(join(dir, "ca.pem"), cert.pem);
    writeFileSync(join(dir, "other-ca.pem"), kubeletCertificate().pem);
    server = https.createServer({ cert: cert.pem, key: cert.privateKey.export({ type: "pkcs8", format: "pem" }) }, (req, res) => {
      requests.push({ auth: req.headers.authorization, path: req.url });
      const r = respond(requests.length);
      // Slow enough that a burst of callers overlaps one request.
      setTimeout(() => {
        res.writeHead(r.status, { "content-type": "application/json" });
        res.end(JSON.stringify(r.body));
      }, 30);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    requests.length = 0;
    respond = () => ({ status: 200, body: podList() });
  });

  it("selectors of a regular container, with the bearer token sent to /pods", async () => {
    const raw = await attestorWith().attest(101);
    assert.deepEqual(raw.map(selectorProblem).filter((p) => p !== undefined), [], "every selector passes entry validation");
    const selectors = raw.map(formatSelector);
    assert.deepEqual(selectors, [
      "k8s:ns:shop",
      "k8s:sa:web-sa",
      "k8s:pod-name:web-7d9f",
      `k8s:pod-uid:${POD_UID}`,
      "k8s:node-name:node-1",
      "k8s:pod-label:app:web",
      "k8s:pod-label:tier:frontend",
      "k8s:container-name:app",
      "k8s:container-image:registry.example/web:1.2",
      "k8s:container-image:registry.example/web@sha256:abcd",
    ]);
    assert.deepEqual(requests, [{ auth: `Bearer ${TOKEN}`, path: "/pods" }]);
  });

  it("init and ephemeral containers match too (cgroup v1 and v2)", async () => {
    const attestor = attestorWith();
    const init = (await attestor.attest(102)).map(formatSelector);
    assert.ok(init.includes("k8s:container-name:migrate") && init.includes("k8s:container-image:registry.example/migrate@sha256:ef01"), init.join(" "));
    const eph = (await attestor.attest(103)).map(formatSelector);
    assert.ok(eph.includes("k8s:container-name:debugger"), eph.join(" "));
    // The spec's image name differs from the resolved one: both are offered.
    assert.ok(eph.includes("k8s:container-image:busybox:1.36") && eph.includes("k8s:container-image:docker.io/library/busybox:1.36"));
    assert.equal(requests.length, 1, "the second attestation used the cached list");
  });

  it("a burst of 20 concurrent attestations makes exactly one kubelet request", async () => {
    const attestor = attestorWith();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => attestor.attest(200 + i)));
    assert.equal(requests.length, 1);
    for (const r of results) assert.ok(r.map(formatSelector).includes("k8s:pod-name:web-7d9f"));
  });

  it("refetches after the TTL", async () => {
    // A fake clock: the TLS handshake and the kubelet's answer take real time, which must not count.
    const clock = createFakeClock(Date.now());
    const attestor = createK8sAttestor({ logger, clock, procRoot: proc, config: { kubelet_url: url, kubelet_ca_path: join(dir, "ca.pem"), token_path: join(dir, "token"), pod_cache_ttl_ms: 50 } });
    await attestor.attest(101);
    clock.advance(49);
    await attestor.attest(101);
    assert.equal(requests.length, 1);
    clock.advance(1);
    await attestor.attest(101);
    assert.equal(requests.length, 2);
  });

  it("a pod missing from the cached list is found by one shared refetch", async () => {
    respond = (n) => ({ status: 200, body: podList(n === 1 ? [] : [newPod]) });
    const attestor = attestorWith();
    const [a, b] = await Promise.all([attestor.attest(109), attestor.attest(109)]);
    assert.equal(requests.length, 2);
    assert.deepEqual(a, b);
    assert.ok(a.map(formatSelector).includes("k8s:ns:batch") && a.map(formatSelector).includes("k8s:container-name:run"));
  });

  it("a container the kubelet never lists fails with a clear, retryable error", async () => {
    await assert.rejects(
      attestorWith().attest(110),
      (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE") && e.grpcStatus === 14 && e.message.includes(cid(10)) && /even after a refetch/.test(e.message),
    );
    assert.equal(requests.length, 2);
  });

  it("a host process or a plain Docker container gets no k8s selectors and costs no request", async () => {
    const attestor = attestorWith();
    assert.deepEqual(await attestor.attest(104), []);
    assert.deepEqual(await attestor.attest(105), []);
    assert.equal(requests.length, 0);
  });

  it("kubelet down: an attestation error naming the kubelet URL", async () => {
    const probe = https.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const attestor = attestorWith({ kubelet_url: `https://127.0.0.1:${port}` });
    await assert.rejects(attestor.attest(101), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE") && e.message.includes(`https://127.0.0.1:${port}/pods`) && /ECONNREFUSED/.test(e.message));
  });

  it("verifies the kubelet certificate against kubelet_ca_path, unless told to skip", async () => {
    await assert.rejects(attestorWith({ kubelet_ca_path: join(dir, "other-ca.pem") }).attest(101), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE") && /certificate|signature/i.test(e.message));
    await assert.rejects(attestorWith({ kubelet_server_name: "node-2" }).attest(101), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE") && /node-2/.test(e.message));
    assert.ok((await attestorWith({ kubelet_server_name: "node-1" }).attest(101)).length > 0);
    const skip = createK8sAttestor({ logger, procRoot: proc, config: { kubelet_url: url, token_path: join(dir, "token"), skip_kubelet_verification: true } });
    assert.ok((await skip.attest(101)).length > 0);
  });

  it("a refused token and a missing token file are reported as such", async () => {
    respond = () => ({ status: 401, body: { kind: "Status", message: "Unauthorized" } });
    await assert.rejects(attestorWith().attest(101), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE") && /HTTP 401/.test(e.message) && /token_path/.test(e.message));
    await assert.rejects(attestorWith({ token_path: join(dir, "nope") }).attest(101), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTOR_UNAVAILABLE") && e.message.includes(join(dir, "nope")));
  });

  it("config: defaults, plain http without the token, every problem at once", () => {
    const d = parseK8sAttestorConfig(undefined);
    assert.equal(d.kubeletUrl, "https://127.0.0.1:10250");
    assert.equal(d.tokenPath, "/var/run/secrets/kubernetes.io/serviceaccount/token");
    assert.equal(d.skipKubeletVerification, false);
    assert.equal(parseK8sAttestorConfig({ kubelet_url: "http://127.0.0.1:10255/" }).tokenPath, undefined);
    assert.equal(parseK8sAttestorConfig({ kubelet_url: "http://127.0.0.1:10255/" }).kubeletUrl, "http://127.0.0.1:10255");
    assert.throws(
      () => parseK8sAttestorConfig({ kubelet_url: "ftp://x", pod_cache_ttl_ms: 0, skip_kubelet_verification: true, kubelet_ca_path: "/ca", colour: 1 }),
      (e) => {
        const p = (SpindleError.is(e, "ERR_CONFIG_INVALID") ? e.details["problems"] : []) as string[];
        return p.length === 4 && p.some((x) => x.startsWith("workload_attestors.k8s.colour: unknown key")) && p.some((x) => x.startsWith("workload_attestors.k8s.kubelet_url:")) && p.some((x) => x.startsWith("workload_attestors.k8s.pod_cache_ttl_ms:")) && p.some((x) => x.startsWith("workload_attestors.k8s.skip_kubelet_verification:"));
      },
    );
    assert.throws(() => parseK8sAttestorConfig({ kubelet_url: "http://n:10255", kubelet_ca_path: "/ca" }), /HTTPS only/);
  });
});
