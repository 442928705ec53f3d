// Local sockets are only as safe as the directories above them. Whoever can write to (or owns)
// any directory on the way to a socket can rename it away and put their own socket in its place:
// a client then hands its admin requests to them, or a workload takes SVIDs from them. So every
// component from the socket up to `/` is checked (docs/security.md, "Local users"):
//   - no symbolic links (the checked path must be the path that is used);
//   - owned by root or by a trusted uid (this process; for a client also the agent's user when
//     configured);
//   - not writable by group or others, except a sticky-bit directory above the socket's own
//     directory (/tmp, mode 1777): there nobody can rename or delete an entry they do not own,
//     and the entry below it is checked in turn;
//   - the socket's own directory is never group/other writable, sticky or not.
import { chmodSync, lstatSync, mkdirSync, readlinkSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { spindleError } from "../common/errors.js";

export interface SocketDirectoryCheck {
  /** The uid whose directories are trusted besides root's; default: this process's uid. */
  uid?: number;
  /** More trusted owners (a client trusting the agent's service user). */
  trustedUids?: readonly number[];
}

export interface PrepareSocketDirectory extends SocketDirectoryCheck {
  /** Mode of the socket's own directory when it is created here (0o700 private, 0o755 public). */
  mode: number;
}

const STICKY = 0o1000;

function unsafe(socketPath: string, component: string, why: string): never {
  throw spindleError("ERR_SOCKET_DIR_UNSAFE", `socket ${socketPath} is not safe to use: ${component} ${why}`);
}

function processUid(o: SocketDirectoryCheck): number | undefined {
  return o.uid ?? process.getuid?.();
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Throws ERR_SOCKET_DIR_UNSAFE naming the first unsafe directory on the way to `socketPath`
 * (and what is wrong with it), or when the socket itself is a symbolic link. Returns "missing"
 * when the socket or one of its directories does not exist (the existing part checked safe):
 * nothing can be listening there, and a client must not connect (someone could create it
 * between the check and the connect).
 */
export function checkSocketDirectory(path: string, options: SocketDirectoryCheck = {}): "present" | "missing" {
  const socketPath = resolve(path);
  const uid = processUid(options);
  const trusted = new Set<number>([0, ...(uid === undefined ? [] : [uid]), ...(options.trustedUids ?? [])]);
  const trustedText = [...trusted].map((u) => (u === 0 ? "root" : `uid ${u}`)).join(" or ");
  const target = lstatOrUndefined(socketPath);
  if (target?.isSymbolicLink()) unsafe(socketPath, socketPath, `is a symbolic link (to ${readlinkSync(socketPath)}); give the socket's real path`);
  const own = dirname(socketPath);
  let found: "present" | "missing" = target === undefined ? "missing" : "present";
  for (let dir = own; ; dir = dirname(dir)) {
    const st = lstatOrUndefined(dir);
    if (st === undefined) {
      found = "missing";
      continue;
    }
    if (st.isSymbolicLink()) unsafe(socketPath, dir, `is a symbolic link (to ${readlinkSync(dir)}); give the socket path without symbolic links`);
    if (!st.isDirectory()) unsafe(socketPath, dir, "is not a directory");
    const mode = `0${(st.mode & 0o7777).toString(8)}`;
    if (!trusted.has(st.uid)) unsafe(socketPath, `directory ${dir}`, `is owned by uid ${st.uid}, not by ${trustedText}: its owner could replace the socket`);
    if ((st.mode & 0o022) !== 0) {
      const who = (st.mode & 0o002) !== 0 ? "everyone" : "its group";
      if (dir === own) unsafe(socketPath, `directory ${dir}`, `is writable by ${who} (mode ${mode}); the socket's own directory must be writable by its owner only`);
      if ((st.mode & STICKY) === 0) unsafe(socketPath, `directory ${dir}`, `is writable by ${who} without the sticky bit (mode ${mode}): anyone who can write there could replace the directories below it`);
    }
    if (dir === "/") return found;
  }
}

/**
 * Creates the missing directories on the way to `socketPath` (the socket's own directory with
 * `mode`, the ones above it 0755, each owned by this process), then checks the whole chain with
 * checkSocketDirectory. Existing directories are never chmod-ed: they are checked as they are.
 */
export function prepareSocketDirectory(socketPath: string, options: PrepareSocketDirectory): void {
  const own = dirname(resolve(socketPath));
  const missing: string[] = [];
  for (let dir = own; lstatOrUndefined(dir) === undefined; dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    const mode = dir === own ? options.mode : 0o755;
    // EEXIST means someone created it meanwhile: the check below judges whose it is.
    try {
      mkdirSync(dir, { mode });
      chmodSync(dir, mode); // mkdir's mode is filtered by the umask
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  if (checkSocketDirectory(socketPath, options) === "missing" && lstatOrUndefined(own) === undefined) {
    throw spindleError("ERR_SOCKET_DIR_UNSAFE", `socket ${socketPath} is not safe to use: directory ${own} disappeared while it was being prepared`);
  }
}
