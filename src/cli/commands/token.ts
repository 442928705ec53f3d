// `spindle token generate`: a single-use join token for node attestation.
import type { Command } from "commander";
import type { CliIO } from "../io.js";
import { addAdminOptions, failWith, iso, rfc3339, runAdmin, type AdminCommandOptions } from "./admin-common.js";
import { ttlFlag } from "./entry-flags.js";

export function registerTokenCommands(group: Command, io: CliIO): void {
  addAdminOptions(group.command("generate").description("generate a single-use join token"))
    .option("--ttl <duration>", "how long the token is valid (seconds or e.g. 10m)", "600")
    .option("--spiffe-id <id>", "a node alias the token's agent also carries (its workload entries can be parented on it)")
    .action(async (opts: AdminCommandOptions & { ttl: string; spiffeId?: string }) => {
      let ttl: number;
      try {
        ttl = ttlFlag("--ttl", opts.ttl)!;
      } catch (err) {
        failWith(io, opts, err);
      }
      await runAdmin(io, opts, (c) => c.generateJoinToken({ ttl, spiffeId: opts.spiffeId ?? "" }), {
        json: (r) => ({
          token: r.token,
          expiresAt: rfc3339(r.expiresAt),
          agentId: r.agentId,
          ...(opts.spiffeId === undefined ? {} : { alias: { spiffeId: opts.spiffeId, entryId: r.aliasEntryId, created: r.aliasEntryCreated } }),
        }),
        text: (r) =>
          `Token: ${r.token}\nExpires at: ${iso(r.expiresAt)}\nAgent SPIFFE ID: ${r.agentId}\n` +
          (opts.spiffeId === undefined ? "" : `Node alias: ${opts.spiffeId} (entry ${r.aliasEntryId}${r.aliasEntryCreated ? ", created" : ", existing"})\n`),
      });
    });
}
