// `spindle agent run` configuration: flags -> YAML file -> ${ENV} expansion -> merge -> strict
// schema (unknown keys are errors) -> plugin blocks parsed by their plugins -> frozen AgentConfig.
// Every problem is reported at once with its path.
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { SpindleError } from "../../common/errors.js";
import {
  parseDockerAttestorConfig,
  parseK8sAttestorConfig,
  parseUnixAttestorConfig,
  type DockerAttestorConfig,
  type K8sAttestorConfig,
  type UnixAttestorConfig,
} from "../../agent/attestors/index.js";
import { WORKLOAD_KEY_TYPES, type WorkloadKeyType } from "../../agent/cache/workload-key.js";
import { parseJoinTokenAgentConfig, type JoinTokenAgentConfig } from "../../agent/nodeattestors/join-token/index.js";
import { parseK8sPsatAgentConfig, type K8sPsatAgentConfig } from "../../agent/nodeattestors/k8s-psat/index.js";
import { parseX509PopAgentConfig, type X509PopAgentConfig } from "../../agent/nodeattestors/x509pop/index.js";
import { trustDomainProblem } from "../../ca/registration/index.js";
import { parseDurationSeconds } from "./duration.js";
import { configInvalid, expandEnv, readYamlFile, zodProblems, type Problem } from "./load.js";
import { parseHostPort } from "./server-config.js";
import { socketDefaults } from "./socket-defaults.js";


export interface AgentFlags {
  serverAddress?: string[];
  trustDomain?: string;
  socketPath?: string;
  joinToken?: string;
  trustBundle?: string;
  dataDir?: string;
  adminSocket?: string;
  insecureBootstrap?: boolean;
  authzPolicy?: string;
  logLevel?: string;
}

export type NodeAttestorConfig =
  | { readonly name: "join_token"; readonly config: JoinTokenAgentConfig }
  | { readonly name: "x509pop"; readonly config: X509PopAgentConfig }
  | { readonly name: "k8s_psat"; readonly config: K8sPsatAgentConfig };

export interface AgentConfig {
  readonly trustDomain: string;
  readonly serverAddresses: readonly string[];
  readonly socketPath: string;
  readonly adminSocket: string | undefined;
  readonly dataDir: string;
  readonly trustBundlePath: string | undefined;
  readonly insecureBootstrap: boolean;
  readonly nodeAttestor: NodeAttestorConfig;
  readonly unixAttestor: UnixAttestorConfig;
  /** Set when `workload_attestors.k8s` is present (even empty: all defaults). */
  readonly k8sAttestor: K8sAttestorConfig | undefined;
  /** Set when `workload_attestors.docker` is present (even empty: all defaults). */
  readonly dockerAttestor: DockerAttestorConfig | undefined;
  readonly authzPolicyPath: string | undefined;
  readonly authzFilter: "http" | "network";
  readonly healthAddress: { readonly host: string; readonly port: number } | undefined;
  readonly syncIntervalMs: number;
  readonly workloadKeyType: WorkloadKeyType;
  readonly sds: { readonly defaultSvid: string; readonly ownBundle: string; readonly allBundles: string; readonly spiffeValidator: boolean };
  readonly logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  /** Window of the rate-limited "identity granted/refused" lines (docs/logging.md); 0 = no limit. */
  readonly identityLogWindowMs: number;
}

const hostPort = z.string().refine((v) => parseHostPort(v) !== undefined, { error: (i) => `${JSON.stringify(i.input)} is not host:port (IPv6 as [::1]:port)` });
const absolutePath = z.string().refine(isAbsolute, "must be an absolute path");
const ATTESTORS = ["join_token", "x509pop", "k8s_psat"] as const;

const schema = z.strictObject({
  trust_domain: z.string({ error: "is required" }).refine((v) => !trustDomainProblem(v), { error: (i) => trustDomainProblem(String(i.input)) }),
  server_addresses: z.array(hostPort, { error: "is required: a list of host:port" }).min(1, "needs at least one host:port"),
  // Defaults (socket-defaults.ts) are filled in before parsing: they depend on the user.
  socket_path: absolutePath,
  // "" disables the admin socket.
  admin_socket: z.union([z.literal(""), absolutePath]),
  data_dir: z.string().min(1).default("/var/lib/spindle/agent"),
  trust_bundle: z.string().min(1).optional(),
  insecure_bootstrap: z.boolean().default(false),
  node_attestor: z
    .record(z.string(), z.unknown(), { error: "is required: one of join_token, x509pop, k8s_psat with its settings" })
    .refine((r) => Object.keys(r).length === 1, "must name exactly one node attestor"),
  workload_attestors: z.strictObject({ unix: z.unknown().optional(), k8s: z.unknown().optional(), docker: z.unknown().optional() }).default({}),
  authz_policy: z.string().min(1).optional(),
  authz_filter: z.enum(["http", "network"]).default("http"),
  health_address: z.union([z.literal(""), hostPort]).default("127.0.0.1:8088"),
  sync_interval: z
    .union([z.string(), z.number()])
    .default("5s")
    .transform((v, ctx) => {
      const s = parseDurationSeconds(v);
      if (s === undefined || s <= 0) {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is not a positive duration (e.g. 5s, 1m)` });
        return z.NEVER;
      }
      return s;
    }),
  workload_key_type: z.enum(WORKLOAD_KEY_TYPES as [WorkloadKeyType, ...WorkloadKeyType[]]).default("ec-p256"),
  sds: z
    .strictObject({
      default_svid_name: z.string().min(1).default("default"),
      default_bundle_name: z.string().min(1).default("ROOTCA"),
      default_all_bundles_name: z.string().min(1).default("ALL"),
      spiffe_validator: z.boolean().default(true),
    })
    .default({ default_svid_name: "default", default_bundle_name: "ROOTCA", default_all_bundles_name: "ALL", spiffe_validator: true }),
  log_level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  identity_log_window: z
    .union([z.string(), z.number()])
    .default("60s")
    .transform((v, ctx) => {
      const s = parseDurationSeconds(v);
      if (s === undefined) {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is not a duration (e.g. 60s, 5m; 0s writes every line)` });
        return z.NEVER;
      }
      return s;
    }),
});

export interface LoadAgentConfigOptions {
  configFile?: string;
  flags: AgentFlags;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The uid the agent runs as (default sockets depend on it); default: this process's. */
  uid?: number;
}

/** Runs a plugin's own parser, turning its ERR_CONFIG_INVALID into problems with their paths. */
function viaPlugin<T>(problems: Problem[], parse: () => T): T | undefined {
  try {
    return parse();
  } catch (err) {
    const e = SpindleError.from(err);
    const listed = e.details["problems"];
    if (Array.isArray(listed)) problems.push(...listed.map(String));
    else problems.push(e.message);
    return undefined;
  }
}

function parseNodeAttestor(raw: unknown, cwd: string, problems: Problem[]): NodeAttestorConfig | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || Object.keys(raw).length !== 1) return undefined; // reported by the schema
  const [name, block] = Object.entries(raw)[0]!;
  const path = `node_attestor.${name}`;
  switch (name) {
    case "join_token": {
      const config = viaPlugin(problems, () => parseJoinTokenAgentConfig(block, path));
      return config && { name, config };
    }
    case "x509pop": {
      const config = viaPlugin(problems, () => parseX509PopAgentConfig(block, path));
      return config && { name, config: Object.freeze({ ...config, certificatePath: resolve(cwd, config.certificatePath), privateKeyPath: resolve(cwd, config.privateKeyPath), ...(config.intermediatesPath ? { intermediatesPath: resolve(cwd, config.intermediatesPath) } : {}) }) };
    }
    case "k8s_psat": {
      const config = viaPlugin(problems, () => parseK8sPsatAgentConfig(block, path));
      return config && { name, config };
    }
    default:
      problems.push(`${path}: unknown node attestor (known: ${ATTESTORS.join(", ")})`);
      return undefined;
  }
}

export function loadAgentConfig(o: LoadAgentConfigOptions): AgentConfig {
  const problems: Problem[] = [];
  const fromFile = o.configFile ? (expandEnv(readYamlFile(resolve(o.cwd, o.configFile)), o.env, problems) as Record<string, unknown>) : {};
  const merged: Record<string, unknown> = { ...fromFile };
  const f = o.flags;
  if (f.trustDomain !== undefined) merged["trust_domain"] = f.trustDomain;
  if (f.serverAddress !== undefined && f.serverAddress.length > 0) merged["server_addresses"] = f.serverAddress;
  if (f.socketPath !== undefined) merged["socket_path"] = resolve(o.cwd, f.socketPath);
  if (f.adminSocket !== undefined) merged["admin_socket"] = f.adminSocket === "" ? "" : resolve(o.cwd, f.adminSocket);
  if (f.dataDir !== undefined) merged["data_dir"] = f.dataDir;
  if (f.trustBundle !== undefined) merged["trust_bundle"] = f.trustBundle;
  if (f.insecureBootstrap === true) merged["insecure_bootstrap"] = true;
  if (f.authzPolicy !== undefined) merged["authz_policy"] = f.authzPolicy;
  if (f.logLevel !== undefined) merged["log_level"] = f.logLevel;
  // --join-token replaces whatever node attestor the file names.
  if (f.joinToken !== undefined) merged["node_attestor"] = { join_token: { token: f.joinToken } };

  const defaults = socketDefaults(o.env, o.uid ?? process.getuid?.());
  merged["socket_path"] ??= defaults.agentSocket;
  merged["admin_socket"] ??= defaults.agentAdminSocket;
  const parsed = schema.safeParse(merged);
  if (!parsed.success) problems.push(...zodProblems(parsed.error));
  // Plugin blocks are parsed even when the rest is invalid, so every problem is listed at once.
  const nodeAttestor = parseNodeAttestor(merged["node_attestor"], o.cwd, problems);
  const rawWa = merged["workload_attestors"];
  const wa = (typeof rawWa === "object" && rawWa !== null && !Array.isArray(rawWa) ? rawWa : {}) as Record<string, unknown>;
  const unixAttestor = viaPlugin(problems, () => parseUnixAttestorConfig(wa["unix"], "workload_attestors.unix"));
  // k8s and docker run only when their block is present (`k8s: {}` or a bare `k8s:` takes the defaults).
  const k8sAttestor = "k8s" in wa ? viaPlugin(problems, () => parseK8sAttestorConfig(wa["k8s"], "workload_attestors.k8s")) : undefined;
  const dockerAttestor = "docker" in wa ? viaPlugin(problems, () => parseDockerAttestorConfig(wa["docker"], "workload_attestors.docker")) : undefined;
  const source = o.configFile ? `${o.configFile} and flags` : "flags";
  if (!parsed.success || problems.length > 0 || nodeAttestor === undefined || unixAttestor === undefined) throw configInvalid(source, problems);
  const c = parsed.data;
  if (c.insecure_bootstrap && c.trust_bundle !== undefined) throw configInvalid(source, ["insecure_bootstrap: contradicts trust_bundle (which would be used anyway); drop one"]);

  return Object.freeze({
    trustDomain: c.trust_domain,
    serverAddresses: Object.freeze([...c.server_addresses]),
    socketPath: c.socket_path,
    adminSocket: c.admin_socket === "" ? undefined : c.admin_socket,
    dataDir: resolve(o.cwd, c.data_dir),
    trustBundlePath: c.trust_bundle === undefined ? undefined : resolve(o.cwd, c.trust_bundle),
    insecureBootstrap: c.insecure_bootstrap,
    nodeAttestor,
    unixAttestor,
    k8sAttestor,
    dockerAttestor,
    authzPolicyPath: c.authz_policy === undefined ? undefined : resolve(o.cwd, c.authz_policy),
    authzFilter: c.authz_filter,
    healthAddress: c.health_address === "" ? undefined : Object.freeze(parseHostPort(c.health_address)!),
    syncIntervalMs: c.sync_interval * 1000,
    workloadKeyType: c.workload_key_type,
    sds: Object.freeze({
      defaultSvid: c.sds.default_svid_name,
      ownBundle: c.sds.default_bundle_name,
      allBundles: c.sds.default_all_bundles_name,
      spiffeValidator: c.sds.spiffe_validator,
    }),
    logLevel: c.log_level,
    identityLogWindowMs: c.identity_log_window * 1000,
  });
}
