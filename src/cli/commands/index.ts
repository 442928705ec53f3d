// The top-level command groups. Each group's subcommands are registered by its own module.
import type { Command } from "commander";
import type { CliIO } from "../program.js";
import { registerAuthorityCommands } from "./authority.js";
import { registerBundleCommands } from "./bundle.js";
import { registerEntryCommands } from "./entry.js";
import { registerHealthcheck } from "./healthcheck.js";
import { registerServerCommands } from "./server.js";
import { registerJwtCommands, registerX509Commands } from "./svid.js";
import { registerTokenCommands } from "./token.js";
import { registerAuthzCommands } from "./authz.js";
import { registerEnvoyCommands } from "./envoy.js";
import { registerApiCommands } from "./api.js";
import { registerAgentCommands } from "./agent.js";
import { registerDevCommand } from "./dev.js";
import { registerExplain } from "./explain.js";
import { registerFederationCommands } from "./federation.js";

interface Group {
  name: string;
  description: string;
  register?: (group: Command, io: CliIO) => void;
}

const GROUPS: Group[] = [
  { name: "server", description: "run and operate the Spindle server (the trust domain's certificate authority)", register: registerServerCommands },
  { name: "agent", description: "run and operate the node agent (Workload API and Envoy SDS on one Unix socket)", register: registerAgentCommands },
  { name: "entry", description: "manage registration entries on a server", register: registerEntryCommands },
  { name: "token", description: "manage join tokens for node attestation", register: registerTokenCommands },
  { name: "bundle", description: "show the trust bundle and manage federated bundles", register: registerBundleCommands },
  { name: "federation", description: "manage federation relationships (bundle endpoints of foreign trust domains)", register: registerFederationCommands },
  { name: "x509", description: "mint X.509-SVIDs directly from the server's CA", register: registerX509Commands },
  { name: "jwt", description: "mint JWT-SVIDs directly from the server's CA", register: registerJwtCommands },
  { name: "authority", description: "show and rotate the server's X.509 and JWT authorities", register: registerAuthorityCommands },
  { name: "healthcheck", description: "check over the admin socket that the server is ready (exit 0) or not (exit 1)", register: registerHealthcheck },
  { name: "api", description: "call the SPIFFE Workload API (works against any SPIFFE agent)", register: registerApiCommands },
  { name: "envoy", description: "generate and check Envoy configuration for Spindle's SDS and RBAC", register: registerEnvoyCommands },
  { name: "authz", description: "compile, check and test SPIFFE-ID allow-lists as Envoy RBAC filters", register: registerAuthzCommands },
  { name: "dev", description: "run a server and an agent together with an embedded SQLite store, for local development", register: registerDevCommand },
  { name: "explain", description: "ask the running agent why a process gets (or does not get) its identities", register: registerExplain },
];

export function registerCommandGroups(program: Command, io: CliIO): void {
  for (const g of GROUPS) {
    const group = program.command(g.name).description(g.description);
    if (g.register) g.register(group, io);
    // A group invoked without a subcommand prints its help to stderr and exits non-zero.
    if (group.commands.length > 0 || !g.register) group.action(() => group.help({ error: true }));
  }
}

