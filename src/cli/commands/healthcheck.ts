// `spindle healthcheck`: asks the server over its admin socket whether it is ready (exit 0) or not (1).
import type { Command } from "commander";
import { CliExit, type CliIO } from "../program.js";
import { addAdminOptions, runAdmin, type AdminCommandOptions } from "./admin-common.js";

export function registerHealthcheck(cmd: Command, io: CliIO): void {
  addAdminOptions(cmd).action(async (opts: AdminCommandOptions) => {
    const r = await runAdmin(io, opts, (c) => c.health({}, { timeoutMs: 5000 }), {
      json: (h) => ({ ready: h.ready, trustDomain: h.trustDomain, serverId: h.serverId, datastore: h.datastore, version: h.version }),
      text: (h) => `Server ${h.serverId} (${h.trustDomain}, ${h.datastore}, v${h.version}) is ${h.ready ? "ready" : "NOT ready"}\n`,
    });
    if (!r.ready) throw new CliExit(1);
  });
}
