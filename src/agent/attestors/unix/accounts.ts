// User and group names from /etc/passwd and /etc/group (name:x:id:...). Read on each attestation:
// the files are small and the page cache keeps them, and a stale copy would give stale selectors.
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

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

export async function readAccounts(passwdPath: string, groupPath: string): Promise<Accounts> {
  const [users, groups] = await Promise.all([readOptional(passwdPath).then(parseIdFile), readOptional(groupPath).then(parseIdFile)]);
  return { userName: (uid) => users.get(uid), groupName: (gid) => groups.get(gid) };
}
