// Starts a throw-away PostgreSQL cluster (the newest installed Debian PostgreSQL) on 127.0.0.1 and a free port, in
// a temp dir. As root (CI), initdb refuses to run, so the cluster runs as the `postgres` user.
// Any failure throws: the PostgreSQL variants of the tests must fail loudly, never skip.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { freePort } from "./ports.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

const PG_ROOT = "/usr/lib/postgresql";

/** The bin dir of the newest installed major version (scripts/ci-deps.sh installs Debian's). */
function pgBinDir(): string {
  const versions = existsSync(PG_ROOT) ? readdirSync(PG_ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const bin = versions.map((v) => join(PG_ROOT, v, "bin")).find((d) => existsSync(join(d, "initdb")));
  if (bin === undefined) throw new Error(`PostgreSQL binaries not found under ${PG_ROOT} (run scripts/ci-deps.sh)`);
  return bin;
}

export interface TempPostgres {
  /** postgres:// URL of a fresh database. */
  url: string;
  /** Creates another empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops PostgreSQL (fast shutdown: clients are disconnected) and starts it again on the same data and port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function asUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

export async function startPostgres(): Promise<TempPostgres> {
  const BIN = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), "spindle-pg-"));
  const user = asUser();
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = join(dir, "data");
  const spawnOpts = { ...user, cwd: dir };
  try {
    execFileSync(join(BIN, "initdb"), ["-D", data, "-U", "spindle", "--auth=trust", "-E", "UTF8", "--no-sync"], { ...spawnOpts, stdio: "pipe" });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`);
  }
  const port = await freePort();
  const args = ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"];
  let log = "";
  const launch = (): ChildProcess => {
    const c = spawn(join(BIN, "postgres"), args, { ...spawnOpts, stdio: ["ignore", "ignore", "pipe"] });
    c.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    return c;
  };
  let child = launch();
  const base = `postgres://spindle@127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const waitAccepting = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) {
        await stop();
        throw new Error(`postgres exited with ${child.exitCode}: ${log}`);
      }
      const c = new pg.Client({ connectionString: `${base}/postgres` });
      try {
        await c.connect();
        await c.end();
        break;
      } catch {
        await c.end().catch(() => undefined);
        if (Date.now() > deadline) {
          await stop();
          throw new Error(`postgres did not accept connections within 30 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  await waitAccepting();
  const createDatabase = async (name: string) => {
    const c = new pg.Client({ connectionString: `${base}/postgres` });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE "${name.replace(/"/g, "")}"`);
    } finally {
      await c.end();
    }
    return `${base}/${name}`;
  };
  const url = await createDatabase("spindle");
  const restart = async () => {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGINT");
    await exited;
    child = launch();
    await waitAccepting();
  };
  return { url, createDatabase, restart, stop };
}

