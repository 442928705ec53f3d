// The official-SDK interop programs shared by interop.test.ts (fake identity source) and
// real-agent.test.ts (real server and agent processes): building the go-spiffe program, installing
// py-spiffe, running them and reading their JSON lines. A failed download or build fails the
// calling suite; nothing is skipped.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join, parse, sep } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const goDir = join(here, "go");
const pyDir = join(here, "python");
const requirements = join(pyDir, "requirements.txt");

export interface SdkPrograms {
  /** The go-spiffe program (subcommands fetch, watch-bundles, mtls-server, mtls-client). */
  goBin: string;
  /** A Python interpreter with py-spiffe installed. */
  python: string;
  /** The py-spiffe fetch script. */
  fetchSvidPy: string;
}

/** Who runs a program: another uid/gid (root only) and its working directory. */
export interface RunAs {
  uid?: number;
  gid?: number;
  cwd?: string;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends RunAs {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, uid: options.uid, gid: options.gid, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function mustRun(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<Run> {
  const r = await run(cmd, args, options);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

export const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/**
 * Checks the output of the Go program's `fetch -audience interop-aud`: its X509Source line (the
 * expected chain lengths and hint) and its JWTSource line (validated locally and through the
 * Workload API, the wrong audience refused with InvalidArgument).
 */
export function assertGoFetch(stdout: string, expected: { spiffeId: string; chainLen: number; verifiedChainLen: number; hint: string }): void {
  const [x509, jwt] = jsonLines(stdout);
  const id = expected.spiffeId;
  assert.deepEqual(x509, { event: "x509", spiffe_id: id, verified_id: id, chain_len: expected.chainLen, verified_chain_len: expected.verifiedChainLen, hint: expected.hint });
  assert.equal(jwt?.["event"], "jwt");
  assert.equal(jwt["spiffe_id"], id);
  assert.equal(jwt["local_sub"], id);
  assert.equal(jwt["remote_sub"], id);
  assert.deepEqual(jwt["audience"], ["interop-aud"]);
  assert.match(String(jwt["wrong_audience_error"]), /InvalidArgument/);
}

export interface LineProcess {
  child: ChildProcess;
  next(): Promise<Record<string, unknown>>;
  stderr(): string;
}

/** Starts a long-running program and hands out its JSON stdout lines one by one. */
export function startLines(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, as: RunAs = {}): LineProcess {
  const child = spawn(cmd, args, { cwd: as.cwd, uid: as.uid, gid: as.gid, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const queue: Record<string, unknown>[] = [];
  const waiters: ((v: Record<string, unknown>) => void)[] = [];
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (!line.startsWith("{")) return;
    const v = JSON.parse(line) as Record<string, unknown>;
    const w = waiters.shift();
    if (w) w(v);
    else queue.push(v);
  });
  return {
    child,
    stderr: () => stderr,
    next: () => {
      const v = queue.shift();
      if (v !== undefined) return Promise.resolve(v);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${cmd} ${args[0]} printed nothing in 30 s; stderr:\n${stderr}`)), 30_000);
        waiters.push((x) => {
          clearTimeout(timer);
          resolve(x);
        });
      });
    },
  };
}

/**
 * Builds the Go program into go/bin and installs py-spiffe into python/bin/venv (both git-ignored).
 * `tag` names the outputs: test files run in parallel, and two builds into one binary or one venv
 * race (ETXTBSY, half-installed packages); each file passes its own tag.
 */
export async function buildSdkPrograms(tag: string): Promise<SdkPrograms> {
  const goBin = await buildGoProgram(tag);
  const venv = join(pyDir, "bin", `venv-${tag}`);
  if (!existsSync(join(venv, "bin", "python"))) await mustRun("python3", ["-m", "venv", venv], { timeoutMs: 120_000 });
  await pipInstall(join(venv, "bin", "python"));
  return { goBin, python: join(venv, "bin", "python"), fetchSvidPy: join(pyDir, "fetch_svid.py") };
}

/** Builds only the go-spiffe program into go/bin/interop-<tag> (see buildSdkPrograms for the tag). */
export async function buildGoProgram(tag: string): Promise<string> {
  const goBin = join(goDir, "bin", `interop-${tag}`);
  await mustRun("go", ["build", "-o", goBin, "."], { cwd: goDir, env: { GOFLAGS: "-mod=mod -buildvcs=false" }, timeoutMs: 600_000 });
  return goBin;
}

async function pipInstall(python: string): Promise<void> {
  await mustRun(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", requirements], { timeoutMs: 600_000 });
}

/**
 * True when a process of any other uid can reach `path`: every directory from / to its real
 * location is searchable by "others", and the file itself has the given "other" permission bits.
 * Group bits are ignored: the spawned uids have no supplementary groups.
 */
export function reachableByOthers(path: string, fileBits = 0o5): boolean {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return false;
  }
  const root = parse(real).root;
  let dir = root;
  for (const part of dirname(real).slice(root.length).split(sep).filter(Boolean)) {
    dir = join(dir, part);
    if ((statSync(dir).mode & 0o1) === 0) return false;
  }
  return (statSync(real).mode & fileBits) === fileBits;
}

/**
 * Makes the programs runnable by other uids: copies the Go binary and the Python script into `dir`
 * (which must itself be reachable, mode 0755), and reuses the interop venv only if its interpreter
 * and packages are reachable; otherwise a new venv is made in `dir` from an interpreter that is (a
 * venv links to its base interpreter, which may live under a 0700 home such as pyenv's).
 */
export async function shareWithOtherUids(programs: SdkPrograms, dir: string): Promise<SdkPrograms> {
  assert.ok(reachableByOthers(dir, 0o5), `${dir} must be reachable by other uids (every directory on its path o+x, itself 0755)`);
  const goBin = join(dir, "interop");
  copyFileSync(programs.goBin, goBin);
  chmodSync(goBin, 0o755);
  const fetchSvidPy = join(dir, "fetch_svid.py");
  copyFileSync(programs.fetchSvidPy, fetchSvidPy);
  chmodSync(fetchSvidPy, 0o644);

  const venv = dirname(dirname(programs.python));
  if (reachableByOthers(programs.python) && reachableByOthers(venv) && reachableByOthers(venvHome(venv))) return { goBin, python: programs.python, fetchSvidPy };

  const base = [venvHome(venv) && join(venvHome(venv), "python3"), "/usr/bin/python3", "/usr/local/bin/python3"].find((p) => p !== "" && reachableByOthers(p));
  assert.ok(base, `no Python interpreter reachable by other uids: ${programs.python} resolves to ${realpathSync(programs.python)}, and neither /usr/bin/python3 nor /usr/local/bin/python3 is usable`);
  const shared = join(dir, "venv");
  await mustRun(base, ["-m", "venv", shared], { timeoutMs: 120_000 });
  const python = join(shared, "bin", "python");
  await pipInstall(python);
  return { goBin, python, fetchSvidPy };
}

/** The base interpreter's directory recorded in a venv's pyvenv.cfg ("" if absent). */
function venvHome(venv: string): string {
  const cfg = join(venv, "pyvenv.cfg");
  if (!existsSync(cfg)) return "";
  return /^home\s*=\s*(.+)$/m.exec(readFileSync(cfg, "utf8"))?.[1]?.trim() ?? "";
}
