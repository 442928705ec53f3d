// Reading a process from procfs (Linux): credentials from /proc/<pid>/status and its start time
// from /proc/<pid>/stat. The start time (clock ticks since boot, field 22) names one process for
// its whole life: a recycled pid gets a new one, which is how attestation detects PID reuse.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { spindleError } from "../../../common/errors.js";

/** Linux reports procfs times in USER_HZ, fixed at 100 by the kernel ABI on every architecture. */
export const USER_HZ = 100;

export interface ProcCredentials {
  /** Effective IDs: the ones the kernel also reports through SO_PEERCRED. */
  readonly uid: number;
  readonly gid: number;
  readonly supplementaryGids: readonly number[];
}

export interface ProcIdentity {
  /** Field 22 of /proc/<pid>/stat. */
  readonly startTicks: number;
  /** Field 3; Z (zombie) and X (dead) processes are gone for attestation purposes. */
  readonly state: string;
}

function gone(pid: number, why: string, cause?: unknown): never {
  throw spindleError("ERR_WORKLOAD_ATTESTATION", `cannot attest pid ${pid}: ${why}`, { cause, details: { pid } });
}

async function readProcFile(procRoot: string, pid: number, name: string): Promise<string> {
  try {
    return await readFile(join(procRoot, String(pid), name), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ESRCH") gone(pid, "the process has exited", err);
    gone(pid, `cannot read ${name} (${code ?? (err as Error).message})`, err);
  }
}

export async function readProcIdentity(procRoot: string, pid: number): Promise<ProcIdentity> {
  const text = await readProcFile(procRoot, pid, "stat");
  // The command name (field 2) is in parentheses and may itself contain spaces and ')'.
  const close = text.lastIndexOf(")");
  const fields = close === -1 ? [] : text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const state = fields[0];
  const start = Number(fields[19]);
  if (state === undefined || !Number.isSafeInteger(start)) gone(pid, "unexpected /proc stat format");
  return { startTicks: start, state };
}

function idList(status: string, key: string, pid: number): number[] {
  const line = status.split("\n").find((l) => l.startsWith(`${key}:`));
  if (line === undefined) gone(pid, `no ${key} line in /proc status`);
  const values = line.slice(key.length + 1).trim();
  if (values === "") return [];
  return values.split(/\s+/).map((v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) gone(pid, `bad ${key} value ${JSON.stringify(v)} in /proc status`);
    return n;
  });
}

export async function readProcCredentials(procRoot: string, pid: number): Promise<ProcCredentials> {
  const status = await readProcFile(procRoot, pid, "status");
  // Uid/Gid lines: real, effective, saved, filesystem.
  const uids = idList(status, "Uid", pid);
  const gids = idList(status, "Gid", pid);
  if (uids.length < 2 || gids.length < 2) gone(pid, "short Uid/Gid lines in /proc status");
  return { uid: uids[1]!, gid: gids[1]!, supplementaryGids: idList(status, "Groups", pid) };
}

/** Boot time, epoch seconds (the `btime` line of /proc/stat). */
export async function readBootTime(procRoot: string): Promise<number> {
  const text = await readFile(join(procRoot, "stat"), "utf8");
  const m = /^btime\s+(\d+)$/m.exec(text);
  if (m === null) throw spindleError("ERR_WORKLOAD_ATTESTATION", `no btime line in ${join(procRoot, "stat")}`);
  return Number(m[1]);
}
