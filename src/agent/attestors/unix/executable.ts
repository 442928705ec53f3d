// The caller's executable: its path (the /proc/<pid>/exe link, as seen in the workload's own mount
// namespace) and the SHA-256 of its content, read through the link so the digest is of the very
// inode the process runs, even when it was deleted or lives in another mount namespace. Digests are
// cached by inode identity (device, inode, size, mtime, ctime) so busy workloads are hashed once.
// The link, open and fstat are sync (procfs and inode metadata, microseconds; async thread-pool
// round trips dominated attestation latency under load); only hashing a new file streams async.
import { createHash } from "node:crypto";
import { closeSync, createReadStream, fstatSync, openSync, readlinkSync } from "node:fs";
import { join } from "node:path";

export interface ExecutableInfo {
  readonly path: string;
  /** Hex SHA-256, or undefined when the file is larger than the limit (see `skipped`). */
  readonly sha256?: string;
  readonly size: number;
  /** Why no digest was computed. */
  readonly skipped?: string;
  /** The file's identity (device, inode, size, mtime, ctime): the same binary has the same one. */
  readonly fileKey: string;
}

export interface ExecutableReader {
  read(pid: number): Promise<ExecutableInfo>;
}

export interface ExecutableReaderOptions {
  procRoot: string;
  /** Bytes; larger executables get no sha256 selector. 0 disables hashing. */
  sizeLimit: number;
  /** Cached digests. Default 256. */
  cacheSize?: number;
}

export function createExecutableReader(options: ExecutableReaderOptions): ExecutableReader {
  const cacheSize = options.cacheSize ?? 256;
  const digests = new Map<string, string>();

  return {
    async read(pid) {
      const link = join(options.procRoot, String(pid), "exe");
      const path = readlinkSync(link);
      const fd = openSync(link, "r");
      try {
        const st = fstatSync(fd, { bigint: true });
        const size = Number(st.size);
        const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
        if (!st.isFile()) return { path, size, fileKey: key, skipped: "not a regular file" };
        if (options.sizeLimit === 0) return { path, size, fileKey: key, skipped: "hashing disabled (workload_size_limit: 0)" };
        if (size > options.sizeLimit) return { path, size, fileKey: key, skipped: `${size} bytes is over workload_size_limit (${options.sizeLimit})` };
        let sha256 = digests.get(key);
        if (sha256 === undefined) {
          const hash = createHash("sha256");
          // Read at most the limit even if the file grows while it is read.
          for await (const chunk of createReadStream("", { fd, start: 0, end: options.sizeLimit - 1, autoClose: false })) hash.update(chunk as Buffer);
          sha256 = hash.digest("hex");
          if (digests.size >= cacheSize) digests.delete(digests.keys().next().value!);
          digests.set(key, sha256);
        }
        return { path, size, sha256, fileKey: key };
      } finally {
        closeSync(fd);
      }
    },
  };
}
