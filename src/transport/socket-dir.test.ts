import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpindleError } from "../common/errors.js";
import { checkSocketDirectory, prepareSocketDirectory } from "./socket-dir.js";

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

function tempBase(t: { after(fn: () => void): void }): string {
  const base = mkdtempSync(join(tmpdir(), "spindle-sockdir-"));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  return base;
}

function dir(path: string, mode: number): string {
  mkdirSync(path, { recursive: true });
  chmodSync(path, mode);
  return path;
}

const refused = (fn: () => unknown, ...parts: RegExp[]) =>
  assert.throws(fn, (err) => {
    assert.ok(SpindleError.is(err, "ERR_SOCKET_DIR_UNSAFE"), String(err));
    for (const p of parts) assert.match(err.message, p);
    return true;
  });

test("a chain of root- or self-owned, owner-writable directories is safe; /tmp-style sticky directories above are fine", (t) => {
  const base = tempBase(t);
  assert.equal(checkSocketDirectory(join(dir(join(base, "a", "b"), 0o755), "api.sock")), "missing", "no socket yet");
  const sticky = dir(join(base, "shared"), 0o1777);
  dir(join(sticky, "mine"), 0o700);
  assert.equal(checkSocketDirectory(join(sticky, "mine", "api.sock")), "missing");
  assert.equal(checkSocketDirectory(join(base, "not", "there", "api.sock")), "missing", "missing directories: nothing to connect to");
});

test("a group-writable directory anywhere on the way is refused, naming it and its mode", (t) => {
  const base = tempBase(t);
  const gw = dir(join(base, "gw"), 0o775);
  dir(join(gw, "private"), 0o700);
  refused(() => checkSocketDirectory(join(gw, "private", "admin.sock")), new RegExp(`directory ${gw} is writable by its group without the sticky bit \\(mode 0775\\)`));
  refused(() => prepareSocketDirectory(join(gw, "private", "admin.sock"), { mode: 0o700 }), /writable by its group/);
  const ow = dir(join(base, "ow"), 0o777);
  refused(() => prepareSocketDirectory(join(ow, "x", "api.sock"), { mode: 0o755 }), /writable by everyone without the sticky bit \(mode 0777\)/);
});

test("the socket's own directory must not be group/other writable even with the sticky bit", (t) => {
  const base = tempBase(t);
  const own = dir(join(base, "tmp-like"), 0o1777);
  refused(() => checkSocketDirectory(join(own, "api.sock")), /the socket's own directory must be writable by its owner only/);
});

test("a symbolic link as a directory component or as the socket is refused", (t) => {
  const base = tempBase(t);
  dir(join(base, "real", "private"), 0o700);
  symlinkSync(join(base, "real"), join(base, "link"));
  refused(() => checkSocketDirectory(join(base, "link", "private", "admin.sock")), new RegExp(`${base}/link is a symbolic link \\(to ${base}/real\\)`));
  refused(() => prepareSocketDirectory(join(base, "link", "private", "admin.sock"), { mode: 0o700 }), /symbolic link/);
  symlinkSync("/elsewhere.sock", join(base, "real", "private", "api.sock"));
  refused(() => checkSocketDirectory(join(base, "real", "private", "api.sock")), /api\.sock is a symbolic link \(to \/elsewhere\.sock\)/);
});

test("a directory owned by another uid is refused unless that uid is trusted", { skip: isRoot ? false : "needs root to chown" }, (t) => {
  const base = tempBase(t);
  const theirs = dir(join(base, "theirs"), 0o755);
  chownSync(theirs, NOBODY, NOBODY);
  dir(join(theirs, "private"), 0o700);
  refused(() => checkSocketDirectory(join(theirs, "private", "admin.sock")), new RegExp(`directory ${theirs} is owned by uid ${NOBODY}, not by root`));
  refused(() => prepareSocketDirectory(join(theirs, "private", "admin.sock"), { mode: 0o700 }), /owned by uid 65534/);
  assert.equal(checkSocketDirectory(join(theirs, "private", "admin.sock"), { trustedUids: [NOBODY] }), "missing");
  // Pre-created by another user where we would create it (the hijack): refused, not adopted.
  const squatted = dir(join(base, "spindle-agent"), 0o755);
  chownSync(squatted, NOBODY, NOBODY);
  refused(() => prepareSocketDirectory(join(squatted, "public", "api.sock"), { mode: 0o755 }), /spindle-agent is owned by uid 65534/);
});

test("prepareSocketDirectory creates the missing directories with their modes whatever the umask", (t) => {
  const base = tempBase(t);
  const old = process.umask(0o077);
  try {
    prepareSocketDirectory(join(base, "run", "agent", "public", "api.sock"), { mode: 0o755 });
    prepareSocketDirectory(join(base, "run", "agent", "private", "admin.sock"), { mode: 0o700 });
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(join(base, "run")).mode & 0o7777, 0o755);
  assert.equal(statSync(join(base, "run", "agent")).mode & 0o7777, 0o755, "parents stay traversable for the public socket");
  assert.equal(statSync(join(base, "run", "agent", "public")).mode & 0o7777, 0o755);
  assert.equal(statSync(join(base, "run", "agent", "private")).mode & 0o7777, 0o700);
});
