// The top-level command groups. Each group's subcommands are registered by its own module, which
// is imported only when that group is the one being run (or its help is asked for): a command
// loads only what it uses, so `spindle --version` or `spindle entry show` do not pay for the
// server, the agent or the config schemas.
import type { Command } from "commander";
import type { CliIO } from "../io.js";

type Register = (group: Command, io: CliIO) => void;

interface Group {
  name: string;
  description: string;
  load: () => Promise<Register>;
}

const GROUPS: Group[] = [
  { name: "server", description: "run and operate the Spindle server (the trust domain's certificate authority)", load: async () => (await import("./server.js")).registerServerCommands },
  { name: "agent", description: "run and operate the node agent (Workload API and Envoy SDS on one Unix socket)", load: async () => (await import("./agent.js")).registerAgentCommands },
  { name: "entry", description: "manage registration entries on a server", load: async () => (await import("./entry.js")).registerEntryCommands },
  { name: "token", description: "manage join tokens for node attestation", load: async () => (await import("./token.js")).registerTokenCommands },
  { name: "bundle", description: "show the trust bundle and manage federated bundles", load: async () => (await import("./bundle.js")).registerBundleCommands },
  { name: "federation", description: "manage federation relationships (bundle endpoints of foreign trust domains)", load: async () => (await import("./federation.js")).registerFederationCommands },
  { name: "x509", description: "mint X.509-SVIDs directly from the server's CA", load: async () => (await import("./svid.js")).registerX509Commands },
  { name: "jwt", description: "mint JWT-SVIDs directly from the server's CA", load: async () => (await import("./svid.js")).registerJwtCommands },
  { name: "authority", description: "show and rotate the server's X.509 and JWT authorities", load: async () => (await import("./authority.js")).registerAuthorityCommands },
  { name: "healthcheck", description: "check over the admin socket that the server is ready (exit 0) or not (exit 1)", load: async () => (await import("./healthcheck.js")).registerHealthcheck },
  { name: "api", description: "call the SPIFFE Workload API (works against any SPIFFE agent)", load: async () => (await import("./api.js")).registerApiCommands },
  { name: "envoy", description: "generate and check Envoy configuration for Spindle's SDS and RBAC", load: async () => (await import("./envoy.js")).registerEnvoyCommands },
  { name: "authz", description: "compile, check and test SPIFFE-ID allow-lists as Envoy RBAC filters", load: async () => (await import("./authz.js")).registerAuthzCommands },
  { name: "dev", description: "run a server and an agent together with an embedded SQLite store, for local development", load: async () => (await import("./dev.js")).registerDevCommand },
  { name: "explain", description: "ask the running agent why a process gets (or does not get) its identities", load: async () => (await import("./explain.js")).registerExplain },
];

/**
 * The group an argv selects: its first operand (the top-level options -h/-v take no value), or the
 * operand after `help`. Undefined for `spindle`, `spindle --help`, `spindle --version`.
 */
export function selectedGroup(argv: readonly string[]): string | undefined {
  const operands = argv.filter((a) => !a.startsWith("-"));
  return operands[0] === "help" ? operands[1] : operands[0];
}

/**
 * Declares every group (name and description, enough for `spindle --help` and for commander to
 * report an unknown command) and registers the subcommands of the `selected` group only. `"*"`
 * registers them all.
 */
export async function registerCommandGroups(program: Command, io: CliIO, selected: string | undefined): Promise<void> {
  for (const g of GROUPS) {
    const group = program.command(g.name).description(g.description);
    if (selected !== "*" && selected !== g.name) continue;
    (await g.load())(group, io);
    // A group invoked without a subcommand prints its help to stderr and exits non-zero.
    if (group.commands.length > 0) group.action(() => group.help({ error: true }));
  }
}
