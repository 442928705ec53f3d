// Which container a process runs in, from /proc/<pid>/cgroup (shared by the k8s and docker
// attestors). Lines are `hierarchy-id:controllers:path`; cgroup v1 has one line per hierarchy, v2
// a single `0::/path`. Runtimes name the container's cgroup after its 64-hex id, either bare
// (`/docker/<id>`, `/kubepods/burstable/pod<uid>/<id>`) or as a systemd scope
// (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`).
// Kubernetes puts the pod UID in a parent cgroup: `pod<uid>` (cgroupfs) or `...-pod<uid with
// underscores>.slice` (systemd).
//
// Where a name appears matters as much as the name: a user with a delegated cgroup subtree
// (systemd's user@<uid>.service, rootless podman) can mkdir any name in it, including
// `kubepods/pod<victim uid>/<victim id>`. So a container is recognised only in a layout that
// starts at the root of the hierarchy, where only root creates cgroups (docs/workload-attestors.md
// lists the layouts and the rule for `/../` paths).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { spindleError } from "../../common/errors.js";
import { USER_HZ, readBootTime, readProcIdentity } from "./unix/proc.js";

export interface ContainerRef {
  /** 64 lowercase hex characters. */
  readonly containerId: string;
  /** Kubernetes pod UID (dashed form), when the cgroup path is a kubepods one. */
  readonly podUid?: string;
}

const ID = /^[0-9a-f]{64}$/;
const UID = "([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})";
const QOS = /^(?:burstable|besteffort)$/;
const POD_DIR = new RegExp(`^pod${UID}$`);
const QOS_SLICE = /^kubepods-(burstable|besteffort)\.slice$/;
const POD_SLICE = new RegExp(`^kubepods(?:-(burstable|besteffort))?-pod${UID}\.slice$`);
// The scopes the kubelet's runtimes create in a pod slice; conmon (CRI-O's monitor process) is not
// the container, hence no `crio-conmon-`.
const POD_SCOPE = /^(?:docker|cri-containerd|crio|containerd)-([0-9a-f]{64})\.scope$/;
const DOCKER_SCOPE = /^docker-([0-9a-f]{64})\.scope$/;
const LIBPOD_SCOPE = /^libpod-([0-9a-f]{64})\.scope$/;

interface Match {
  readonly ref: ContainerRef;
  /** Index of the first segment after the container's. */
  readonly end: number;
  /** A Docker container: kind nodes and Docker-in-Docker run a nested layout below it. */
  readonly docker: boolean;
}

const pod = (containerId: string, uid: string | undefined): ContainerRef => (uid === undefined ? { containerId } : { containerId, podUid: uid.replaceAll("_", "-") });

/**
 * A layout starting at `segs[i]`. With `fromRoot` false (a path under `/../`, see the caller), the
 * layout may also start lower down: the root-created parents it names are then above the
 * namespace root, among the agent's own ancestors.
 */
function matchAt(segs: readonly string[], i: number, fromRoot: boolean): Match | undefined {
  const at = (k: number) => segs[i + k] ?? "";
  // Kubernetes, cgroupfs driver: /kubepods[/<qos>]/pod<uid>/<id>.
  {
    let k = 0;
    if (at(k) === "kubepods") k++;
    if (k > 0 || !fromRoot) {
      if (QOS.test(at(k))) k++;
      const uid = POD_DIR.exec(at(k))?.[1];
      if (uid !== undefined && ID.test(at(k + 1))) return { ref: pod(at(k + 1), uid), end: i + k + 2, docker: false };
    }
  }
  // Kubernetes, systemd driver: /kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid>.slice/<scope>.
  {
    let k = 0;
    if (at(k) === "kubepods.slice") k++;
    if (k > 0 || !fromRoot) {
      const qos = QOS_SLICE.exec(at(k))?.[1];
      if (qos !== undefined) k++;
      const slice = POD_SLICE.exec(at(k));
      // The pod slice is named after its QoS slice (`kubepods-burstable-pod...` in `kubepods-burstable.slice`).
      const fits = slice !== null && (qos === undefined ? k === 0 || slice[1] === undefined : slice[1] === qos);
      const id = fits ? POD_SCOPE.exec(at(k + 1))?.[1] : undefined;
      if (id !== undefined) return { ref: pod(id, slice![2]), end: i + k + 2, docker: false };
    }
  }
  // Docker, cgroupfs driver: /docker/<id>; systemd driver: /system.slice/docker-<id>.scope;
  // rootful Podman, systemd driver: /machine.slice/libpod-<id>.scope.
  const anchored = (parent: string, child: RegExp, docker: boolean): Match | undefined => {
    const k = at(0) === parent ? 1 : fromRoot ? -1 : 0;
    const id = k === -1 ? undefined : child.exec(at(k))?.[1];
    return id === undefined ? undefined : { ref: { containerId: id }, end: i + k + 1, docker };
  };
  return anchored("docker", /^([0-9a-f]{64})$/, true) ?? anchored("system.slice", DOCKER_SCOPE, true) ?? anchored("machine.slice", LIBPOD_SCOPE, false);
}

/** The container named by one cgroup path, or undefined (a host process, a pod-level cgroup, a user-made cgroup). */
export function containerFromCgroupPath(path: string): ContainerRef | undefined {
  if (!path.startsWith("/")) return undefined;
  const segs = path.slice(1).split("/");
  // `/../` prefixes: the process is outside the reader's cgroup namespace and the path climbs from
  // the namespace root (the agent's own cgroup, when the agent runs in a container) to a common
  // ancestor. Every such ancestor is one of the agent's own, root-owned unless the agent itself
  // runs in a user's delegated subtree, which would give that user the agent anyway.
  let i = 0;
  while (segs[i] === "..") i++;
  let found = matchAt(segs, i, i === 0);
  // Below a Docker container only its root (a privileged container: kind nodes, Docker-in-Docker)
  // can create cgroups; its own runtime's layout names the innermost container. Other segments
  // below a container (`init.scope` of systemd inside it) leave it the container.
  while (found?.docker === true) {
    const inner = matchAt(segs, found.end, true);
    if (inner === undefined) break;
    found = inner;
  }
  return found?.ref;
}

/**
 * The container of a /proc/<pid>/cgroup file's content. Every hierarchy must agree: a process
 * placed in different containers' cgroups in different v1 hierarchies is refused, never guessed.
 */
export function containerFromCgroupFile(text: string, where = "cgroup file"): ContainerRef | undefined {
  let found: ContainerRef | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    // The path is everything after the second colon and may itself contain colons.
    const first = line.indexOf(":");
    const second = first === -1 ? -1 : line.indexOf(":", first + 1);
    if (second === -1) throw spindleError("ERR_WORKLOAD_ATTESTATION", `${where}: unexpected line ${JSON.stringify(line)} (want hierarchy:controllers:path)`);
    const ref = containerFromCgroupPath(line.slice(second + 1));
    if (ref === undefined) continue;
    if (found === undefined) found = ref;
    else if (found.containerId !== ref.containerId || (ref.podUid !== undefined && found.podUid !== undefined && ref.podUid !== found.podUid)) {
      throw spindleError("ERR_WORKLOAD_ATTESTATION", `${where}: the process is in the cgroups of two containers (${found.containerId} and ${ref.containerId}); refusing to pick one`);
    } else if (found.podUid === undefined && ref.podUid !== undefined) found = ref;
  }
  return found;
}

export interface ContainerProcess {
  /** Undefined: the process is not in a container (no selectors, not an error). */
  readonly container: ContainerRef | undefined;
  /**
   * Rejects with ERR_WORKLOAD_ATTESTATION when the pid no longer names the process whose cgroup
   * was read (it exited or the pid was reused). Call it after the runtime lookup, before
   * returning selectors.
   */
  confirm(): Promise<void>;
}

/**
 * Reads the container of `pid`, bracketed by its start time like the unix attestor does, so a
 * plugin configured on its own still never describes a recycled pid. `requestedAt` is when the
 * call arrived (epoch ms): a process started later cannot have made it.
 */
export async function readContainerProcess(procRoot: string, pid: number, requestedAt: number): Promise<ContainerProcess> {
  const before = await readProcIdentity(procRoot, pid);
  const gone = (why: string) => spindleError("ERR_WORKLOAD_ATTESTATION", `pid ${pid} ${why}; no identity for it`, { details: { pid } });
  if (before.state === "Z" || before.state === "X") throw gone(`has exited (state ${before.state})`);
  const startedAt = ((await readBootTime(procRoot)) + before.startTicks / USER_HZ) * 1000;
  if (startedAt > requestedAt + 1000) throw gone("names a process started after the call arrived (pid reused)");
  const file = join(procRoot, String(pid), "cgroup");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ESRCH") throw gone("has exited");
    throw spindleError("ERR_WORKLOAD_ATTESTATION", `cannot read ${file}: ${code ?? (err as Error).message}`, { cause: err, details: { pid } });
  }
  const container = containerFromCgroupFile(text, file);
  return {
    container,
    async confirm() {
      const after = await readProcIdentity(procRoot, pid);
      if (after.startTicks !== before.startTicks || after.state === "Z" || after.state === "X") throw gone("changed during attestation (exited or reused)");
    },
  };
}
