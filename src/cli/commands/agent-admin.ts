// `spindle agent list|show|evict|ban|unban`: the attested agents recorded by a server, over the
// SERVER's admin socket (like `spindle entry`), not the agent's.
import { toJson } from "@bufbuild/protobuf";
import type { Command } from "commander";
import { AgentSchema, type Agent } from "../../gen/spindle/admin/v1/admin_pb.js";
import { parseSelector } from "../../spiffe/index.js";
import type { AdminClient } from "../../ca/admin/index.js";
import type { CliIO } from "../io.js";
import { addAdminOptions, collect, failWith, iso, runAdmin, withTimes, type AdminCommandOptions } from "./admin-common.js";

type ListOpts = AdminCommandOptions & { attestor?: string; banned?: boolean; selector?: string[] };
type IdOpts = AdminCommandOptions & { spiffeId: string };

/** `banned: false` is spelled out: for a ban tool, an absent flag would read as "unknown". */
const agentJson = (a: Agent) => withTimes(toJson(AgentSchema, a, { alwaysEmitImplicit: true }) as Record<string, unknown>, { expiresAt: a.expiresAt, createdAt: a.createdAt, updatedAt: a.updatedAt });

export function agentText(a: Agent): string {
  return (
    [
      `SPIFFE ID        : ${a.spiffeId}`,
      `Attestor         : ${a.attestor}`,
      ...a.selectors.map((s) => `Selector         : ${s.type}:${s.value}`),
      `SVID serial      : ${a.serial}`,
      `SVID expires at  : ${iso(a.expiresAt)}`,
      `Banned           : ${a.banned}`,
      `Can re-attest    : ${a.canReattest}`,
      `Created at       : ${iso(a.createdAt)}`,
      `Updated at       : ${iso(a.updatedAt)}`,
    ].join("\n") + "\n"
  );
}

function listText(agents: Agent[]): string {
  return `Found ${agents.length} attested agent${agents.length === 1 ? "" : "s"}\n` + agents.map((a) => "\n" + agentText(a)).join("");
}

function idCommand(group: Command, io: CliIO, name: string, description: string, call: (c: AdminClient, spiffeId: string) => Promise<Agent>, done: (a: Agent) => string): void {
  addAdminOptions(group.command(name).description(description))
    .requiredOption("--spiffe-id <id>", "the agent's SPIFFE ID (see `spindle agent list`)")
    .action(async (opts: IdOpts) => {
      await runAdmin(io, opts, (c) => call(c, opts.spiffeId), { json: agentJson, text: done });
    });
}

export function registerAgentAdminCommands(group: Command, io: CliIO): void {
  addAdminOptions(group.command("list").description("list the agents attested to the server (asks the server's admin socket)"))
    .option("--attestor <name>", "only agents attested by this node attestor (join_token, x509pop, k8s_psat)")
    .option("--banned", "only banned agents")
    .option("--no-banned", "only agents that are not banned")
    .option("--selector <type:value>", "only agents having this node selector; repeatable", collect)
    .action(async (opts: ListOpts) => {
      let selectors;
      try {
        selectors = (opts.selector ?? []).map(parseSelector);
      } catch (err) {
        failWith(io, opts, err);
      }
      const filter = { attestor: opts.attestor ?? "", banned: opts.banned, selectors };
      await runAdmin(io, opts, async (c) => (await c.listAgents({ filter })).agents, { json: (as) => ({ agents: as.map(agentJson) }), text: listText });
    });

  idCommand(group, io, "show", "show one attested agent", (c, spiffeId) => c.getAgent({ spiffeId }), agentText);
  idCommand(
    group,
    io,
    "evict",
    "delete an agent's record: its SVID is refused from now on and it must attest again",
    (c, spiffeId) => c.evictAgent({ spiffeId }),
    (a) => `Evicted ${a.spiffeId}; it must attest again${a.canReattest ? "" : ` (${a.attestor} evidence is single use: the node needs new evidence, e.g. a new join token)`}\n`,
  );
  idCommand(group, io, "ban", "refuse the agent's attestation and agent API calls until it is unbanned", (c, spiffeId) => c.banAgent({ spiffeId }), (a) => `Banned ${a.spiffeId}\n`);
  idCommand(group, io, "unban", "lift an agent's ban", (c, spiffeId) => c.unbanAgent({ spiffeId }), (a) => `Unbanned ${a.spiffeId}\n`);
}
