// `spindle envoy validate` and `spindle envoy bootstrap`: check any Envoy v3 config against
// Envoy's own types, and print a bootstrap wired to the agent's SDS (and ECDS) socket.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { Option } from "commander";
import type { Command } from "commander";
import { SpindleError } from "../../common/errors.js";
import type { EnvoyConfigFormat } from "../../envoy/schema.js";
import { defaultWorkloadSocket } from "../config/socket-defaults.js";
import type { BootstrapFormat } from "../../envoy/bootstrap/index.js";
import { CliExit, errorLine } from "../io.js";
import type { CliIO } from "../io.js";

// The validator loads every generated Envoy type (~0.6 s) and the generator the SPIFFE core:
// both are imported only when an envoy command runs, so the rest of the CLI starts fast.
const loadSchema = () => import("../../envoy/schema.js");
const loadBootstrap = () => import("../../envoy/bootstrap/index.js");
const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerEnvoyCommands(group: Command, io: CliIO): void {
  group
    .command("validate")
    .description("decode an Envoy v3 config (YAML or JSON) with Envoy's types; report every unknown field, unresolved @type or bad value with its path")
    .argument("<file>", "the config file")
    .option("--type <message>", "the Envoy message the file holds", BOOTSTRAP_TYPE)
    .addOption(new Option("--format <format>", "how to parse the file (default: json for *.json, else yaml)").choices(["yaml", "json"]))
    .action(async (file: string, opts: { type: string; format?: EnvoyConfigFormat }) => {
      const { decodeEnvoyConfig } = await loadSchema();
      run(io, () => {
        const text = readConfig(file);
        const format = opts.format ?? (extname(file).toLowerCase() === ".json" ? "json" : "yaml");
        decodeEnvoyConfig(opts.type, text, { format, source: file });
        io.stdout(`${file}: valid ${opts.type.slice(opts.type.lastIndexOf("/") + 1)}\n`);
      });
    });

  group
    .command("bootstrap")
    .description("print an Envoy v3 bootstrap whose certificates (SDS) and, optionally, RBAC policies (ECDS) come from the Spindle agent")
    .option("--role <role>", "sidecar (inbound mTLS to a local app, outbound to an mTLS upstream) or gateway (edge TLS in, mTLS to the upstream)")
    .option("--spiffe-id <id>", "the SVID Envoy presents (the SDS certificate name); default: `default`, the caller's first SVID")
    .option("--listen <addr>", "inbound (sidecar) or edge (gateway) listener, HOST:PORT (default: 0.0.0.0:8443)")
    .option("--app <addr>", "sidecar: the local application, HOST:PORT (default: 127.0.0.1:8080)")
    .option("--outbound-listen <addr>", "sidecar: plain local listener for the app's outgoing calls, HOST:PORT (default: 127.0.0.1:9000)")
    .option("--upstream <addr>", "the mTLS upstream, HOST:PORT (required for gateway; sidecar: no outbound side without it)")
    .option("--peer-id <id>", "a SPIFFE ID allowed on the other end: sidecar callers, and the upstream unless --upstream-id is given (repeatable)", collect)
    .option("--upstream-id <id>", "a SPIFFE ID the upstream must present (repeatable; default: the --peer-id list)", collect)
    .option("--validation-context <name>", "bundle secret: ROOTCA, ALL or spiffe://<td> (default: ALL when a peer is in another trust domain, else ROOTCA)")
    .option("--socket-path <path>", "the agent's public socket (default: this user's agent socket when it exists, else /run/spindle/agent/public/api.sock)")
    .option("--admin <addr>", "Envoy admin listener, HOST:PORT (default: 127.0.0.1:9901)")
    .option("--node-id <id>", "node.id (default: spindle-<role>)")
    .option("--cluster <name>", "node.cluster (default: spindle-<role>)")
    .option("--authz <mode>", "none, or ecds: RBAC filters spindle.authz.deny + spindle.authz.allow fed by the agent (fail closed); default: none")
    .addOption(new Option("--format <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (opts: BootstrapFlags) => {
      const [{ decodeEnvoyConfig }, { generateBootstrap, renderBootstrap }] = await Promise.all([loadSchema(), loadBootstrap()]);
      run(io, () => {
        const { peerId, upstreamId, format, ...flags } = opts;
        const bootstrap = generateBootstrap({ ...flags, socketPath: flags.socketPath ?? defaultWorkloadSocket(io.env), peerIds: peerId, upstreamIds: upstreamId });
        // Never print a config Envoy would refuse: the output goes through the validator first.
        decodeEnvoyConfig(BOOTSTRAP_TYPE, bootstrap, { source: "generated bootstrap" });
        io.stdout(renderBootstrap(bootstrap, format));
      });
    });
}

interface BootstrapFlags {
  role?: string;
  spiffeId?: string;
  listen?: string;
  app?: string;
  outboundListen?: string;
  upstream?: string;
  peerId?: string[];
  upstreamId?: string[];
  validationContext?: string;
  socketPath?: string;
  admin?: string;
  nodeId?: string;
  cluster?: string;
  authz?: string;
  format: BootstrapFormat;
}

function readConfig(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new SpindleError("ERR_CONFIG_READ", `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Runs a command body; a SpindleError becomes `error [CODE]: message` on stderr and exit 1. */
function run(io: CliIO, body: () => void): void {
  try {
    body();
  } catch (err) {
    const e = SpindleError.from(err);
    io.stderr(errorLine(e));
    throw new CliExit(1);
  }
}
