// User and group names from /etc/passwd and /etc/group (name:x:id:...). Each attestation stats the
// two files and re-parses one only when its inode, size or mtime changed, so names are never stale
// and a burst of attestations does not re-read and re-parse them every time. The stat is sync on
// purpose: it takes microseconds, less than the thread-pool round trip of an async one
// (bench/workload-api.bench.ts measures attestation under concurrent fetches); a changed file is
// read asynchronously, so even a file that blocks (a FIFO, a slow mount) never blocks the agent.
import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";

export interface Accounts {
  userName(uid: number): string | undefined;
  groupName(gid: number): string | undefined;
}

function parseIdFile(text: string): Map<number, string> {
  const byId = new Map<number, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const [name, , id] = line.split(":");
    const n = Number(id);
    // The first line wins, as libc's getpwuid/getgrgid do.
    if (name !== undefined && name !== "" && id !== undefined && id !== "" && Number.isSafeInteger(n) && !byId.has(n)) byId.set(n, name);
  }
  return byId;
}

/** One file's parsed content, re-read when its stat identity changes. */
function createIdFile(path: string): () => Promise<Map<number, string>> {
  let stamp: string | undefined;
  let byId = new Map<number, string>();
  return async () => {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    const now = st === undefined ? "absent" : `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    if (now !== stamp) {
      byId = st === undefined ? new Map() : parseIdFile(await readFile(path, "utf8"));
      stamp = now;
    }
    return byId;
  };
}

export interface AccountsReader {
  read(): Promise<Accounts>;
}

export function createAccountsReader(passwdPath: string, groupPath: string): AccountsReader {
  const passwd = createIdFile(passwdPath);
  const group = createIdFile(groupPath);
  return {
    async read() {
      const [users, groups] = await Promise.all([passwd(), group()]);
      return { userName: (uid) => users.get(uid), groupName: (gid) => groups.get(gid) };
    },
  };
}
