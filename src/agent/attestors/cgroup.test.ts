// Container ids and pod UIDs from the cgroup line shapes runtimes actually write (cgroupfs and
// systemd drivers, cgroup v1 and v2), and from a fake procfs for the process checks.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SpindleError } from "../../common/errors.js";
import { containerFromCgroupFile, containerFromCgroupPath, readContainerProcess } from "./cgroup.js";

const ID = "3f1a6b0c9d2e4f5a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";
const ID2 = "b".repeat(64);
const UID = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const UIDU = UID.replaceAll("-", "_");

describe("container from a cgroup path", () => {
  const cases: [string, string, { containerId: string; podUid?: string } | undefined][] = [
    ["v1 cgroupfs, burstable pod", `/kubepods/burstable/pod${UID}/${ID}`, { containerId: ID, podUid: UID }],
    ["v1 cgroupfs, besteffort pod", `/kubepods/besteffort/pod${UID}/${ID}`, { containerId: ID, podUid: UID }],
    ["v1 cgroupfs, guaranteed pod (no QoS level)", `/kubepods/pod${UID}/${ID}`, { containerId: ID, podUid: UID }],
    ["v1 systemd, docker runtime", `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UIDU}.slice/docker-${ID}.scope`, { containerId: ID, podUid: UID }],
    ["v2 systemd, containerd", `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UIDU}.slice/cri-containerd-${ID}.scope`, { containerId: ID, podUid: UID }],
    ["v2 systemd, CRI-O", `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UIDU}.slice/crio-${ID}.scope`, { containerId: ID, podUid: UID }],
    ["v2 systemd, guaranteed pod", `/kubepods.slice/kubepods-pod${UIDU}.slice/cri-containerd-${ID}.scope`, { containerId: ID, podUid: UID }],
    ["v2 as seen from a nested cgroup namespace", `/../../kubepods-burstable-pod${UIDU}.slice/cri-containerd-${ID}.scope`, { containerId: ID, podUid: UID }],
    ["kind / k3s: kubelet under a node container", `/docker/${ID2}/kubepods/burstable/pod${UID}/${ID}`, { containerId: ID, podUid: UID }],
    ["v1 docker, cgroupfs driver", `/docker/${ID}`, { containerId: ID }],
    ["v2 docker, systemd driver", `/system.slice/docker-${ID}.scope`, { containerId: ID }],
    ["v2 docker, systemd running inside the container", `/system.slice/docker-${ID}.scope/init.scope`, { containerId: ID }],
    ["rootful podman, systemd driver", `/machine.slice/libpod-${ID}.scope`, { containerId: ID }],
    ["docker in docker: the innermost container", `/docker/${ID2}/docker/${ID}`, { containerId: ID }],
    ["CRI-O conmon is not the container", `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UIDU}.slice/crio-conmon-${ID}.scope`, undefined],
    ["pod-level cgroup, no container", `/kubepods/burstable/pod${UID}`, undefined],
    ["host process, v2 user session", "/user.slice/user-1000.slice/session-3.scope", undefined],
    ["host service", "/system.slice/sshd.service", undefined],
    ["the root cgroup", "/", undefined],
    ["a 63-hex name is no container id", `/docker/${ID.slice(1)}`, undefined],
    ["uppercase hex is no container id", `/docker/${ID.toUpperCase()}`, undefined],
    ["v2 cgroupfs driver from a nested cgroup namespace", `/../../besteffort/pod${UID}/${ID}`, { containerId: ID, podUid: UID }],
    ["a docker container from the agent's own container's cgroup namespace", `/../docker-${ID}.scope`, { containerId: ID }],
    ["kind on systemd: a pod under a node container", `/system.slice/docker-${ID2}.scope/kubepods.slice/kubepods-pod${UIDU}.slice/cri-containerd-${ID}.scope`, { containerId: ID, podUid: UID }],
    ["a cgroup made inside a pod container does not name another container", `/kubepods/pod${UID}/${ID}/docker/${ID2}`, { containerId: ID, podUid: UID }],
    ["a pod-like name outside kubepods names nothing", `/custom/pod${UID}/${ID}`, undefined],
    ["a bare id outside /docker names nothing", `/${ID}`, undefined],
    ["a pod slice of another QoS class than its parent", `/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod${UIDU}.slice/crio-${ID}.scope`, undefined],
  ];
  // A user with a delegated subtree (systemd user@.service, rootless podman/docker) can create any
  // of these names below it; none may name a container, whatever the victim's real layout.
  const delegated = [
    "/user.slice/user-1000.slice/user@1000.service",
    "/user.slice/user-1000.slice/user@1000.service/app.slice/evil.scope",
    "/user.slice/user-1000.slice/session-3.scope",
    "/system.slice/some.service",
  ];
  const victims = [
    `/kubepods/burstable/pod${UID}/${ID}`,
    `/kubepods/pod${UID}/${ID}`,
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UIDU}.slice/cri-containerd-${ID}.scope`,
    `/kubepods-burstable-pod${UIDU}.slice/crio-${ID}.scope`,
    `/docker/${ID}`,
    `/docker-${ID}.scope`,
    `/system.slice/docker-${ID}.scope`,
    `/machine.slice/libpod-${ID}.scope`,
    `/user.slice/libpod-${ID}.scope`,
    `/docker/${ID2}/kubepods/pod${UID}/${ID}`,
  ];
  for (const base of delegated) {
    for (const victim of victims) {
      cases.push([`spoof: ${base}${victim}`, `${base}${victim}`, undefined]);
      cases.push([`spoof from a nested namespace: /../..${base}${victim}`, `/../..${base}${victim}`, undefined]);
    }
  }
  for (const [name, path, want] of cases) {
    it(name, () => assert.deepEqual(containerFromCgroupPath(path), want));
  }
});

describe("container from a cgroup file", () => {
  it("cgroup v1: every hierarchy, the pod UID kept even when one line lacks it", () => {
    const text = [
      `12:memory:/kubepods/burstable/pod${UID}/${ID}`,
      `11:cpu,cpuacct:/kubepods/burstable/pod${UID}/${ID}`,
      "10:rdma:/",
      `9:name=systemd:/kubepods/burstable/pod${UID}/${ID}`,
      `1:net_cls,net_prio:/docker/${ID}`,
      "",
    ].join("\n");
    assert.deepEqual(containerFromCgroupFile(text), { containerId: ID, podUid: UID });
  });

  it("hybrid v1 + v2 and a plain v2 file", () => {
    assert.deepEqual(containerFromCgroupFile(`5:devices:/docker/${ID}\n0::/system.slice/docker-${ID}.scope\n`), { containerId: ID });
    assert.deepEqual(containerFromCgroupFile(`0::/kubepods.slice/kubepods-pod${UIDU}.slice/cri-containerd-${ID}.scope\n`), { containerId: ID, podUid: UID });
  });

  it("a process in a user-made kubepods tree (v1 and v2 lines) is in no container", () => {
    const text = `12:memory:/user.slice/user-1000.slice/user@1000.service/kubepods/pod${UID}/${ID2}\n0::/user.slice/user-1000.slice/user@1000.service/kubepods.slice/kubepods-pod${UIDU}.slice/cri-containerd-${ID2}.scope\n`;
    assert.equal(containerFromCgroupFile(text), undefined);
  });

  it("a host process: nothing, not an error", () => {
    assert.equal(containerFromCgroupFile("12:memory:/user.slice\n0::/user.slice/user-1000.slice/session-2.scope\n"), undefined);
    assert.equal(containerFromCgroupFile(""), undefined);
  });

  it("refuses a process in two containers' cgroups, and a malformed line", () => {
    assert.throws(() => containerFromCgroupFile(`4:memory:/docker/${ID}\n3:cpu:/docker/${ID2}\n`, "/proc/7/cgroup"), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /\/proc\/7\/cgroup: .*two containers/.test(e.message));
    assert.throws(() => containerFromCgroupFile("garbage\n"), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /unexpected line/.test(e.message));
  });
});

describe("reading a process's container from procfs", () => {
  let proc: string;
  const pid = 77;
  const bootTime = Math.floor(Date.now() / 1000) - 3600;
  const writeStat = (startTicks: number, state = "S") => writeFileSync(join(proc, String(pid), "stat"), `${pid} (my app) ${state} ${Array.from({ length: 18 }, () => "0").join(" ")} ${startTicks} 0\n`);
  before(() => {
    proc = mkdtempSync(join(tmpdir(), "spindle-cgroup-"));
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, "stat"), `cpu 1 2 3\nbtime ${bootTime}\n`);
    writeFileSync(join(proc, String(pid), "cgroup"), `0::/system.slice/docker-${ID}.scope\n`);
    writeStat(100 * 60);
  });
  after(() => rmSync(proc, { recursive: true, force: true }));

  it("the container, then confirm() while the process is unchanged", async () => {
    const p = await readContainerProcess(proc, pid, Date.now());
    assert.deepEqual(p.container, { containerId: ID });
    await p.confirm();
  });

  it("confirm() fails once the pid names another process", async () => {
    const p = await readContainerProcess(proc, pid, Date.now());
    writeStat(100 * 61);
    await assert.rejects(p.confirm(), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /reused/.test(e.message));
    writeStat(100 * 60);
  });

  it("a process started after the call arrived, a zombie, an unknown pid", async () => {
    writeStat(100 * 3700);
    await assert.rejects(readContainerProcess(proc, pid, Date.now()), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /started after/.test(e.message));
    writeStat(100 * 60, "Z");
    await assert.rejects(readContainerProcess(proc, pid, Date.now()), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /exited/.test(e.message));
    writeStat(100 * 60);
    await assert.rejects(readContainerProcess(proc, 78, Date.now()), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /exited/.test(e.message));
  });

  it("the real /proc: this test process", async () => {
    const p = await readContainerProcess("/proc", process.pid, Date.now());
    await p.confirm();
  });
});
