import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultWorkloadSocket, socketDefaults } from "./socket-defaults.js";

test("root uses /run/spindle; other users their XDG runtime directory, else /tmp/spindle-<uid>", () => {
  assert.deepEqual(socketDefaults({ XDG_RUNTIME_DIR: "/run/user/0" }, 0), {
    runtimeDir: "/run/spindle",
    agentSocket: "/run/spindle/agent/public/api.sock",
    agentAdminSocket: "/run/spindle/agent/private/admin.sock",
    serverAdminSocket: "/run/spindle/server/private/admin.sock",
  });
  assert.equal(socketDefaults({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000).agentSocket, "/run/user/1000/spindle/agent/public/api.sock");
  assert.equal(socketDefaults({ XDG_RUNTIME_DIR: "relative/dir" }, 1000).runtimeDir, "/tmp/spindle-1000", "a relative XDG_RUNTIME_DIR is ignored");
  assert.equal(socketDefaults({}, 1000).serverAdminSocket, "/tmp/spindle-1000/server/private/admin.sock");
});

test("a workload uses its own user's agent socket when it exists, else the system agent's", (t) => {
  const xdg = mkdtempSync(join(tmpdir(), "spindle-xdg-"));
  t.after(() => rmSync(xdg, { recursive: true, force: true }));
  assert.equal(defaultWorkloadSocket({ XDG_RUNTIME_DIR: xdg }, 1000), "/run/spindle/agent/public/api.sock");
  mkdirSync(join(xdg, "spindle", "agent", "public"), { recursive: true });
  writeFileSync(join(xdg, "spindle", "agent", "public", "api.sock"), "");
  assert.equal(defaultWorkloadSocket({ XDG_RUNTIME_DIR: xdg }, 1000), join(xdg, "spindle", "agent", "public", "api.sock"));
});
