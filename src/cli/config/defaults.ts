// Default socket paths, in a module of their own so that commands which only need a default (every
// admin-socket command) do not load the config schemas (zod) and the modules those validate with.
export const DEFAULT_ADMIN_SOCKET = "/tmp/spindle-server/private/admin.sock";
export const DEFAULT_AGENT_SOCKET = "/tmp/spindle-agent/public/api.sock";
export const DEFAULT_AGENT_ADMIN_SOCKET = "/tmp/spindle-agent/private/admin.sock";
