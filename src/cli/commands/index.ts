// The top-level command groups. Each group's subcommands are registered by its own module.
import type { Command } from "commander";
import type { CliIO } from "../program.js";

interface Group {
  name: string;
  description: string;
  register?: (group: Command, io: CliIO) => void;
}

const GROUPS: Group[] = [
  { name: "server", description: "run and operate the Spindle server (the trust domain's certificate authority)" },
  { name: "agent", description: "run and operate the node agent (Workload API and Envoy SDS on one Unix socket)" },
  { name: "entry", description: "manage registration entries on a server" },
  { name: "token", description: "manage join tokens for node attestation" },
  { name: "bundle", description: "show the trust bundle and manage federated bundles" },
  { name: "api", description: "call the SPIFFE Workload API (works against any SPIFFE agent)" },
  { name: "envoy", description: "generate and check Envoy configuration for Spindle's SDS and RBAC" },
  { name: "authz", description: "compile, check and test SPIFFE-ID allow-lists as Envoy RBAC filters" },
  { name: "dev", description: "run a server and an agent together with an embedded SQLite store, for local development" },
];

export function registerCommandGroups(program: Command, io: CliIO): void {
  for (const g of GROUPS) {
    const group = program.command(g.name).description(g.description);
    if (g.register) g.register(group, io);
    // A group invoked without a subcommand prints its help to stderr and exits non-zero.
    if (group.commands.length > 0 || !g.register) group.action(() => group.help({ error: true }));
  }
}

