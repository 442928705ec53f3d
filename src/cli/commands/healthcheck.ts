// `spindle healthcheck`: asks the server over its admin socket whether it is ready (exit 0) or not (1).
// `spindle agent healthcheck`: the same question to a running agent over ITS admin socket (`GET
// /status`): ready means up and past its first sync with the server.
import { Option, type Command } from "commander";
import { SpindleError } from "../../common/errors.js";
import { CliExit, errorLine, type CliIO } from "../io.js";
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

/** The part of the agent's `GET /status` answer the healthcheck reads (src/agent/agent.ts, AgentStatus). */
interface AgentStatusAnswer {
  agentId?: string;
  ready: boolean;
  reason?: string;
  entries: number;
  agentSvidExpiresAt?: string;
  sync: { failures: number; lastSuccessAt?: string; lastError?: { code: string; message: string } };
}

export function registerAgentHealthcheck(group: Command, io: CliIO, defaultAdminSocket: string): void {
  group
    .command("healthcheck")
    .description("check over the agent's admin socket that it is up and has completed its first sync (exit 0) or not (exit 1)")
    .option("--admin-socket <path>", "the agent's admin socket", defaultAdminSocket)
    .addOption(new Option("--output <format>", "output format").choices(["json", "text"]).default("text"))
    .action(async (opts: { adminSocket: string; output: "json" | "text" }) => {
      const { agentAdminGet } = await import("../../agent/admin/index.js");
      let s: AgentStatusAnswer;
      try {
        s = (await agentAdminGet(opts.adminSocket, "/status", 5000)) as AgentStatusAnswer;
      } catch (err) {
        const e = SpindleError.from(err);
        if (opts.output === "json") io.stdout(JSON.stringify({ ready: false, reason: e.message, code: e.code }, null, 2) + "\n");
        else io.stderr(errorLine(e));
        throw new CliExit(1);
      }
      const reason = s.ready ? undefined : (s.reason ?? "not ready");
      if (opts.output === "json") {
        io.stdout(JSON.stringify({ ready: s.ready, ...(reason !== undefined ? { reason } : {}), agentId: s.agentId ?? null, entries: s.entries, agentSvidExpiresAt: s.agentSvidExpiresAt ?? null, sync: s.sync }, null, 2) + "\n");
      } else if (s.ready) {
        io.stdout(`Agent ${s.agentId ?? "(unknown id)"} is ready (${s.entries} entr${s.entries === 1 ? "y" : "ies"}, agent SVID expires at ${s.agentSvidExpiresAt ?? "?"})\n`);
      } else {
        io.stdout(`Agent ${s.agentId ?? "(not attested yet)"} is NOT ready: ${reason}\n`);
      }
      if (!s.ready) throw new CliExit(1);
    });
}
