// No local user can put a socket where Spindle's servers listen or its clients connect: with a
// directory on the way owned by another uid, writable by a group, or reached through a symbolic
// link, the agent's public and admin sockets and the server's admin socket refuse to start, and
// the CLI's admin clients and the Workload API client refuse to connect (docs/security.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentAdminGet, startAgentAdminServer } from "../../src/agent/admin/index.js";
import { createWorkloadApiClient } from "../../src/workload-client/index.js";
import { startAdminServer, type AdminServiceDeps } from "../../src/ca/admin/index.js";
import { runCli } from "../../src/cli/program.js";
import { SpindleError } from "../../src/common/errors.js";
import { createGrpcSocketServer } from "../../src/transport/grpc-socket-server.js";
import { createLogger } from "../../src/common/logger.js";

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const logger = createLogger({ level: "silent" });

interface Layout {
  /** The directory that makes the path unsafe, as the error must name it. */
  culprit: string;
  /** A socket path under it (through the link for the symlink layout). */
  socketPath: (name: string) => string;
  /** The same socket's real path (where a squatter listens). */
  realPath: (name: string) => string;
}

type Maker = (base: string) => Layout;

function mk(path: string, mode: number, owner?: number): string {
  mkdirSync(path, { recursive: true });
  chmodSync(path, mode);
  if (owner !== undefined) chownSync(path, owner, owner);
  return path;
}

const LAYOUTS: Record<string, { make: Maker; why: RegExp; needsRoot?: boolean }> = {
  "a parent directory created by another uid": {
    needsRoot: true,
    why: /is owned by uid 65534, not by root/,
    make: (base) => {
      const theirs = mk(join(base, "spindle"), 0o755, NOBODY);
      mk(join(theirs, "private"), 0o700);
      return { culprit: theirs, socketPath: (n) => join(theirs, "private", n), realPath: (n) => join(theirs, "private", n) };
    },
  },
  "a group-writable parent directory": {
    why: /is writable by its group without the sticky bit \(mode 0775\)/,
    make: (base) => {
      const shared = mk(join(base, "spindle"), 0o775);
      mk(join(shared, "private"), 0o700);
      return { culprit: shared, socketPath: (n) => join(shared, "private", n), realPath: (n) => join(shared, "private", n) };
    },
  },
  "a symbolic link on the way": {
    why: /is a symbolic link \(to /,
    make: (base) => {
      mk(join(base, "real", "private"), 0o700);
      symlinkSync(join(base, "real"), join(base, "spindle"));
      return { culprit: join(base, "spindle"), socketPath: (n) => join(base, "spindle", "private", n), realPath: (n) => join(base, "real", "private", n) };
    },
  },
};

const isUnsafe = (layout: Layout, why: RegExp) => (err: unknown) => {
  assert.ok(SpindleError.is(err, "ERR_SOCKET_DIR_UNSAFE"), String(err));
  assert.ok(err.message.includes(layout.culprit), `${err.message} names ${layout.culprit}`);
  assert.match(err.message, why);
  return true;
};

/** A squatter's socket: counts the connections it receives. */
async function squat(path: string): Promise<{ server: Server; connections: () => number }> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, connections: () => n };
}

for (const [name, { make, why, needsRoot }] of Object.entries(LAYOUTS)) {
  const skip = needsRoot === true && !isRoot ? "needs root to chown a directory to another uid" : false;

  test(`servers refuse to start with ${name}`, { skip }, async (t) => {
    const base = mkdtempSync(join(tmpdir(), "spindle-unsafe-"));
    t.after(() => rmSync(base, { recursive: true, force: true }));
    const layout = make(base);

    const publicSocket = createGrpcSocketServer({ socketPath: layout.socketPath("api.sock"), logger, readPeerCredentials: () => ({ pid: 1, uid: 0, gid: 0 }) });
    await assert.rejects(publicSocket.start(), isUnsafe(layout, why), "agent public socket");
    const handlers = { explain: () => Promise.resolve({}), envoys: () => ({}), status: () => ({}) };
    await assert.rejects(startAgentAdminServer({ socketPath: layout.socketPath("agent-admin.sock"), handlers, logger }), isUnsafe(layout, why), "agent admin socket");
    // The directory is refused before the admin service is built: its dependencies are never used.
    await assert.rejects(startAdminServer({ socketPath: layout.socketPath("admin.sock"), deps: {} as AdminServiceDeps, logger }), isUnsafe(layout, why), "server admin socket");
    for (const sock of ["api.sock", "agent-admin.sock", "admin.sock"]) assert.equal(existsSync(layout.realPath(sock)), false, `${sock} was not created`);
  });

  test(`clients refuse a socket reached with ${name}, without connecting`, { skip }, async (t) => {
    const base = mkdtempSync(join(tmpdir(), "spindle-unsafe-"));
    t.after(() => rmSync(base, { recursive: true, force: true }));
    const layout = make(base);
    const fakes = await Promise.all(["admin.sock", "agent-admin.sock", "api.sock"].map((n) => squat(layout.realPath(n))));
    t.after(() => fakes.forEach((f) => f.server.close()));

    // The demonstrated attack: `spindle token generate` handing the request to a fake server.
    let err = "";
    const io = { stdout: () => undefined, stderr: (s: string) => void (err += s), env: {} };
    assert.equal(await runCli(["token", "generate", "--admin-socket", layout.socketPath("admin.sock")], io), 1);
    assert.match(err, /ERR_SOCKET_DIR_UNSAFE/);
    assert.ok(err.includes(layout.culprit), err);

    await assert.rejects(agentAdminGet(layout.socketPath("agent-admin.sock"), "/status"), isUnsafe(layout, why), "agent admin client");
    const client = createWorkloadApiClient({ address: `unix://${layout.socketPath("api.sock")}` });
    t.after(() => client.close());
    await assert.rejects(client.fetchX509Context(), isUnsafe(layout, why), "workload API client");
    await assert.rejects(client.fetchJwtSvids(["aud"]), isUnsafe(layout, why), "workload API client (unary)");

    let apiErr = "";
    const apiIo = { stdout: () => undefined, stderr: (s: string) => void (apiErr += s), env: {} };
    assert.equal(await runCli(["api", "fetch", "x509", "--socket-path", layout.socketPath("api.sock")], apiIo), 1);
    assert.match(apiErr, /ERR_SOCKET_DIR_UNSAFE/);

    assert.deepEqual(fakes.map((f) => f.connections()), [0, 0, 0], "no client reached a squatter's socket");
  });
}
