// Which container a process runs in, from /proc/<pid>/cgroup (shared by the k8s and docker
// attestors). Lines are `hierarchy-id:controllers:path`; cgroup v1 has one line per hierarchy, v2
// a single `0::/path`. Runtimes name the container's cgroup after its 64-hex id, either bare
// (`/docker/<id>`, `/kubepods/burstable/pod<uid>/<id>`) or as a systemd scope
// (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`).
// Kubernetes puts the pod UID in a parent cgroup: `pod<uid>` (cgroupfs) or `...-pod<uid with
// underscores>.slice` (systemd).
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
// A scope per runtime; conmon (CRI-O's monitor process) is not the container, hence no `crio-conmon-`.
const SCOPE = /^(?:docker|cri-containerd|crio|libpod|containerd)-([0-9a-f]{64})\.scope$/;
const POD_UID = /(?:^|[/-])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?=\/|$)/;

/** The container named by one cgroup path, or undefined (a host process, a pod-level cgroup). */
export function containerFromCgroupPath(path: string): ContainerRef | undefined {
  const segments = path.split("/");
  // The deepest container segment: `/system.slice/docker-<id>.scope/init.scope` (systemd inside
  // the container) still names <id>; nested containers name the innermost one.
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!;
    const id = ID.test(s) ? s : SCOPE.exec(s)?.[1];
    if (id === undefined) continue;
    const above = segments.slice(0, i).join("/");
    const uid = path.includes("kubepods") ? POD_UID.exec(above)?.[1] : undefined;
    return uid === undefined ? { containerId: id } : { containerId: id, podUid: uid.replaceAll("_", "-") };
  }
  return undefined;
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
