// Where sockets go unless configured (docs/security.md, "Local users"). A socket is only as safe
// as the directories above it, so the defaults live in directories no other user can write:
//   root:                      /run/spindle (root-owned, on a tmpfs cleared at boot)
//   any other user:            $XDG_RUNTIME_DIR/spindle (the user's own 0700 runtime directory)
//   other user, no XDG dir:    /tmp/spindle-<uid> (created by us; refused if someone else made it)
// Only cli/ reads the environment; the rest of the code gets these paths as options.
import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";

export const SYSTEM_RUNTIME_DIR = "/run/spindle";

export interface SocketDefaults {
  readonly runtimeDir: string;
  /** The agent's public socket (Workload API, SDS, ECDS). */
  readonly agentSocket: string;
  readonly agentAdminSocket: string;
  readonly serverAdminSocket: string;
}

function under(runtimeDir: string): SocketDefaults {
  return Object.freeze({
    runtimeDir,
    agentSocket: join(runtimeDir, "agent", "public", "api.sock"),
    agentAdminSocket: join(runtimeDir, "agent", "private", "admin.sock"),
    serverAdminSocket: join(runtimeDir, "server", "private", "admin.sock"),
  });
}

/** The socket paths a server or agent started by `uid` uses by default. */
export function socketDefaults(env: NodeJS.ProcessEnv, uid: number | undefined = process.getuid?.()): SocketDefaults {
  if (uid === undefined || uid === 0) return under(SYSTEM_RUNTIME_DIR);
  const xdg = env["XDG_RUNTIME_DIR"];
  if (xdg !== undefined && isAbsolute(xdg)) return under(join(xdg, "spindle"));
  return under(`/tmp/spindle-${uid}`);
}

/**
 * The agent socket a workload (or an Envoy bootstrap) uses by default: the one of an agent run
 * by the same user when it exists, else the system agent's under /run/spindle.
 */
export function defaultWorkloadSocket(env: NodeJS.ProcessEnv, uid: number | undefined = process.getuid?.()): string {
  const own = socketDefaults(env, uid).agentSocket;
  return existsSync(own) ? own : under(SYSTEM_RUNTIME_DIR).agentSocket;
}
