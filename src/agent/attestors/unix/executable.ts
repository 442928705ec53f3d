// The caller's executable: its path (the /proc/<pid>/exe link, as seen in the workload's own mount
// namespace) and the SHA-256 of its content, read through the link so the digest is of the very
// inode the process runs, even when it was deleted or lives in another mount namespace. Digests are
// cached by inode identity (device, inode, size, mtime, ctime) so busy workloads are hashed once.
import { createHash } from "node:crypto";
import { open, readlink } from "node:fs/promises";
import { join } from "node:path";

export interface ExecutableInfo {
  readonly path: string;
  /** Hex SHA-256, or undefined when the file is larger than the limit (see `skipped`). */
  readonly sha256?: string;
  readonly size: number;
  /** Why no digest was computed. */
  readonly skipped?: string;
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
      const path = await readlink(link);
      const file = await open(link, "r");
      try {
        const st = await file.stat({ bigint: true });
        const size = Number(st.size);
        if (!st.isFile()) return { path, size, skipped: "not a regular file" };
        if (options.sizeLimit === 0) return { path, size, skipped: "hashing disabled (workload_size_limit: 0)" };
        if (size > options.sizeLimit) return { path, size, skipped: `${size} bytes is over workload_size_limit (${options.sizeLimit})` };
        const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
        let sha256 = digests.get(key);
        if (sha256 === undefined) {
          const hash = createHash("sha256");
          // Read at most the limit even if the file grows while it is read.
          for await (const chunk of file.createReadStream({ start: 0, end: options.sizeLimit - 1, autoClose: false })) hash.update(chunk as Buffer);
          sha256 = hash.digest("hex");
          if (digests.size >= cacheSize) digests.delete(digests.keys().next().value!);
          digests.set(key, sha256);
        }
        return { path, size, sha256 };
      } finally {
        await file.close();
      }
    },
  };
}
