// The unix attestor against the real /proc (this test process and a spawned child) and against a
// fake procfs for the cases the kernel will not stage on demand (supplementary groups, a pid reused
// mid-attestation). Blocking FIFOs stand in for /etc/passwd to pause attestation at a known point.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SpindleError } from "../../../common/errors.js";
import { createLogger, createSilentLogger } from "../../../common/logger.js";
import { formatSelector } from "../../../spiffe/selector.js";
import { selectorProblem } from "../../../spiffe/selector-schema.js";
import { createUnixAttestor, parseUnixAttestorConfig } from "./index.js";

const logger = createSilentLogger();
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const sleepBin = realpathSync("/usr/bin/sleep");

function spawnSleeper(): Promise<ChildProcess> {
  const child = spawn(sleepBin, ["30"], { stdio: "ignore" });
  return new Promise((resolve, reject) => {
    child.once("spawn", () => resolve(child));
    child.once("error", reject);
  });
}

/**
 * Makes `path` a FIFO that blocks its reader until release(): we hold it open read-write (so the
 * reader's open() does not block) and wait until a second descriptor, the attestor's, appears.
 */
async function blockingFile(path: string): Promise<{ readerWaiting(): Promise<void>; release(content: string): Promise<void> }> {
  execFileSync("mkfifo", [path]);
  const handle = await open(path, constants.O_RDWR);
  const holders = () => readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;
  return {
    async readerWaiting() {
      for (let i = 0; i < 500 && holders() < 2; i++) await new Promise((r) => setTimeout(r, 10));
      if (holders() < 2) throw new Error(`nobody opened ${path}`);
    },
    async release(content) {
      await handle.write(content);
      await handle.close();
    },
  };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
}

describe("unix workload attestor", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "spindle-unix-attestor-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("attests the test process itself from the real /proc", async () => {
    const attestor = createUnixAttestor({ logger });
    const selectors = (await attestor.attest(process.pid)).map(formatSelector);
    const uid = process.geteuid!();
    const gid = process.getegid!();
    assert.ok(selectors.includes(`unix:uid:${uid}`), selectors.join(" "));
    assert.ok(selectors.includes(`unix:gid:${gid}`));
    const passwdName = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.split(":")[2] === String(uid))?.split(":")[0];
    if (passwdName !== undefined) assert.ok(selectors.includes(`unix:user:${passwdName}`));
    assert.ok(selectors.includes(`unix:path:${realpathSync(process.execPath)}`));
    // node is larger than the default 64 MiB limit: no digest, rather than hashing it per call.
    assert.ok(!selectors.some((s) => s.startsWith("unix:sha256:")));
  });

  it("attests a spawned child: its path and the sha256 of its executable", async () => {
    const child = await spawnSleeper();
    try {
      const attestor = createUnixAttestor({ logger, config: { workload_size_limit: 10 * 1024 * 1024 } });
      const selectors = (await attestor.attest(child.pid!)).map(formatSelector);
      assert.ok(selectors.includes(`unix:path:${sleepBin}`), selectors.join(" "));
      assert.ok(selectors.includes(`unix:sha256:${sha256(sleepBin)}`));
      assert.ok(selectors.includes(`unix:uid:${process.geteuid!()}`));
      const small = createUnixAttestor({ logger, config: { workload_size_limit: 1024 } });
      assert.ok(!(await small.attest(child.pid!)).some((s) => s.value.startsWith("sha256:")), "over the size limit: no digest");
      const noPath = createUnixAttestor({ logger, config: { discover_workload_path: false } });
      assert.ok(!(await noPath.attest(child.pid!)).some((s) => s.value.startsWith("path:")));
    } finally {
      child.kill();
    }
  });

  it("says 'no sha256 selector' once per binary, at debug, however many calls it attests", async () => {
    const children = [await spawnSleeper(), await spawnSleeper()];
    try {
      const lines: Record<string, unknown>[] = [];
      const capturing = createLogger({ level: "debug", destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
      const attestor = createUnixAttestor({ logger: capturing, config: { workload_size_limit: 1024 } });
      for (let i = 0; i < 3; i++) for (const c of children) await attestor.attest(c.pid!);
      // This test process runs another binary (node): its own line.
      await attestor.attest(process.pid);
      const said = lines.filter((l) => String(l["msg"]).startsWith("no sha256 selector"));
      assert.deepEqual(
        said.map((l) => [l["level"], l["path"]]),
        [
          ["debug", sleepBin],
          ["debug", realpathSync(process.execPath)],
        ],
      );
      assert.match(String(said[0]!["reason"]), /over workload_size_limit \(1024\)/);
    } finally {
      for (const c of children) c.kill();
    }
  });

  it("fails, never describing another process, when the pid exits during attestation", async () => {
    const child = await spawnSleeper();
    const fifo = join(dir, "passwd-exit.fifo");
    const blocker = await blockingFile(fifo);
    const attestor = createUnixAttestor({ logger, passwdPath: fifo });
    const result = attestor.attest(child.pid!).then(
      () => "attested",
      (err: unknown) => err,
    );
    // Attestation is now blocked reading the FIFO, after the first start-time read.
    await blocker.readerWaiting();
    child.kill("SIGKILL");
    await exited(child);
    await blocker.release("root:x:0:0::/root:/bin/sh\n");
    const err = await result;
    assert.ok(SpindleError.is(err, "ERR_WORKLOAD_ATTESTATION"), String(err));
    assert.equal(err.grpcStatus, 16, "Unauthenticated");
  });

  it("rejects an unknown pid", async () => {
    const attestor = createUnixAttestor({ logger });
    await assert.rejects(attestor.attest(2 ** 22 + 12345), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /exited/.test(e.message));
  });

  describe("with a fake procfs", () => {
    let proc: string;
    const pid = 4242;
    const bootTime = Math.floor(Date.now() / 1000) - 3600;
    const writeStat = (startTicks: number, state = "S") =>
      writeFileSync(join(proc, String(pid), "stat"), `${pid} (my (odd) app) ${state} 1 ${pid} ${pid} 0 -1 4194304 ${"0 ".repeat(12)}${startTicks} 1000 200\n`);

    before(() => {
      proc = join(dir, "proc");
      mkdirSync(join(proc, String(pid)), { recursive: true });
      writeFileSync(join(proc, "stat"), `cpu  1 2 3\nbtime ${bootTime}\n`);
      writeFileSync(join(proc, String(pid), "status"), "Name:\tapp\nUid:\t1000\t1001\t1001\t1001\nGid:\t2000\t2001\t2001\t2001\nGroups:\t27 4 27 999\n");
      symlinkSync(sleepBin, join(proc, String(pid), "exe"));
      writeStat(100 * 60);
      writeFileSync(join(dir, "passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1001:2001::/home/app:/bin/sh\n");
      writeFileSync(join(dir, "group"), "root:x:0:\nadm:x:4:\nsudo:x:27:app\napp:x:2001:\n");
    });

    it("uses the effective ids and names every supplementary group once", async () => {
      const attestor = createUnixAttestor({ logger, procRoot: proc, passwdPath: join(dir, "passwd"), groupPath: join(dir, "group") });
      const selectors = (await attestor.attest(pid)).map(formatSelector);
      assert.deepEqual((await attestor.attest(pid)).map(selectorProblem).filter((p) => p !== undefined), [], "every selector passes entry validation");
      assert.deepEqual(selectors, [
        "unix:uid:1001",
        "unix:user:app",
        "unix:gid:2001",
        "unix:group:app",
        "unix:supplementary_gid:27",
        "unix:supplementary_group:sudo",
        "unix:supplementary_gid:4",
        "unix:supplementary_group:adm",
        "unix:supplementary_gid:999",
        `unix:path:${sleepBin}`,
        `unix:sha256:${sha256(sleepBin)}`,
      ]);
    });

    it("fails when the pid names a different process (new start time) by the end of attestation", async () => {
      const fifo = join(dir, "passwd-reuse.fifo");
      const blocker = await blockingFile(fifo);
      const attestor = createUnixAttestor({ logger, procRoot: proc, passwdPath: fifo, groupPath: join(dir, "group") });
      const result = attestor.attest(pid).then(
        () => "attested",
        (err: unknown) => err,
      );
      await blocker.readerWaiting();
      writeStat(100 * 61);
      await blocker.release(readFileSync(join(dir, "passwd"), "utf8"));
      const err = await result;
      assert.ok(SpindleError.is(err, "ERR_WORKLOAD_ATTESTATION") && /reused/.test(err.message), String(err));
      writeStat(100 * 60);
    });

    it("fails for a zombie and for a process that started after the call arrived", async () => {
      const attestor = createUnixAttestor({ logger, procRoot: proc, passwdPath: join(dir, "passwd"), groupPath: join(dir, "group") });
      writeStat(100 * 60, "Z");
      await assert.rejects(attestor.attest(pid), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION"));
      writeStat(100 * (3600 + 120));
      await assert.rejects(attestor.attest(pid), (e) => SpindleError.is(e, "ERR_WORKLOAD_ATTESTATION") && /started after/.test(e.message));
      writeStat(100 * 60);
    });
  });

  it("config: defaults, and every problem reported at once", () => {
    assert.deepEqual(parseUnixAttestorConfig(undefined), { discoverWorkloadPath: true, workloadSizeLimit: 64 * 1024 * 1024 });
    assert.deepEqual(parseUnixAttestorConfig({ workload_size_limit: 0 }), { discoverWorkloadPath: true, workloadSizeLimit: 0 });
    assert.throws(
      () => parseUnixAttestorConfig({ discover_workload_path: "yes", workload_size_limit: -1, sha: true }),
      (e) =>
        SpindleError.is(e, "ERR_CONFIG_INVALID") &&
        (e.details["problems"] as string[]).length === 3 &&
        /workload_attestors\.unix\.sha: unknown key/.test(e.message) &&
        /discover_workload_path/.test(e.message) &&
        /workload_size_limit/.test(e.message),
    );
  });
});
