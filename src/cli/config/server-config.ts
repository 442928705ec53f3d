// `spindle server run` configuration: flags -> YAML file -> ${ENV} expansion -> merge -> strict
// schema (unknown keys are errors) -> cross-field checks -> frozen ServerOptions. Every problem is
// reported at once with its path.
import { hostname } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import type { AgentApiLimits, ServerOptions, HostPort } from "../../ca/server/options.js";
import { parseDatastoreLocation } from "../../ca/datastore/index.js";
import { trustDomainProblem } from "../../ca/registration/index.js";
import { parseDurationSeconds } from "./duration.js";
import { DEFAULT_ADMIN_SOCKET } from "./defaults.js";
import { configInvalid, expandEnv, readYamlFile, zodProblems, type Problem } from "./load.js";

export { DEFAULT_ADMIN_SOCKET };

export interface ServerFlags {
  trustDomain?: string;
  dataDir?: string;
  bind?: string;
  adminSocket?: string;
  datastore?: string;
  logLevel?: string;
}

const duration = (dflt: string) =>
  z
    .union([z.string(), z.number()])
    .default(dflt)
    .transform((v, ctx) => {
      const s = parseDurationSeconds(v);
      if (s === undefined || s <= 0) {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is not a positive duration (e.g. 90s, 5m, 1h, 7d)` });
        return z.NEVER;
      }
      return s;
    });

const optionalDuration = z
  .union([z.string(), z.number()])
  .optional()
  .transform((v, ctx) => {
    if (v === undefined) return undefined;
    const s = parseDurationSeconds(v);
    if (s === undefined || s <= 0) {
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is not a positive duration (e.g. 90s, 5m, 1h, 7d)` });
      return z.NEVER;
    }
    return s;
  });

export function parseHostPort(v: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

const hostPort = z.string().transform((v, ctx) => {
  const a = parseHostPort(v);
  if (!a) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is not host:port (port 0-65535; IPv6 as [::1]:port)` });
    return z.NEVER;
  }
  return a;
});
const address = (dflt: string) => z.string().default(dflt).pipe(hostPort);

const keyType = z.enum(["ec-p256", "ec-p384", "rsa-2048"]);

const schema = z.strictObject({
  trust_domain: z.string({ error: "is required" }).refine((v) => !trustDomainProblem(v), { error: (i) => trustDomainProblem(String(i.input)) }),
  server_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 of [A-Za-z0-9._-]").optional(),
  data_dir: z.string().min(1).default("/var/lib/spindle/server"),
  bind_address: address("0.0.0.0:8081"),
  admin_socket: z.string().refine(isAbsolute, "must be an absolute path").default(DEFAULT_ADMIN_SOCKET),
  datastore: z.string().min(1).optional(),
  ca_ttl: duration("24h"),
  x509_svid_ttl: duration("1h"),
  jwt_svid_ttl: duration("5m"),
  key_manager: z.enum(["disk", "memory"]).default("disk"),
  ca_key_type: keyType.default("ec-p256"),
  jwt_key_type: keyType.default("ec-p256"),
  jwt_issuer: z.url().optional(),
  upstream_authority: z
    .strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1), bundle_file: z.string().min(1).optional() })
    .optional(),
  log_level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  health_address: address("127.0.0.1:8080"),
  metrics_address: hostPort.optional(),
  bundle_refresh_hint: duration("5m"),
  peer_refresh_interval: duration("5s"),
  agent_api: z
    .strictObject({
      attestations_per_second: z.number().positive("must be a positive number").optional(),
      signings_per_second: z.number().positive("must be a positive number").optional(),
      agent_svid_ttl: optionalDuration,
    })
    .optional(),
  // Plugin blocks are checked by src/ca/nodeattestors at start (every unknown key, with its path).
  node_attestors: z.record(z.string(), z.unknown()).optional(),
});

const FLAG_KEYS: Record<keyof ServerFlags, string> = {
  trustDomain: "trust_domain",
  dataDir: "data_dir",
  bind: "bind_address",
  adminSocket: "admin_socket",
  datastore: "datastore",
  logLevel: "log_level",
};

export interface LoadServerConfigOptions {
  configFile?: string;
  flags: ServerFlags;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function loadServerConfig(o: LoadServerConfigOptions): Readonly<ServerOptions> {
  const problems: Problem[] = [];
  const fromFile = o.configFile ? expandEnv(readYamlFile(resolve(o.cwd, o.configFile)), o.env, problems) : {};
  const merged: Record<string, unknown> = { ...(fromFile as Record<string, unknown>) };
  for (const [flag, key] of Object.entries(FLAG_KEYS)) {
    const v = o.flags[flag as keyof ServerFlags];
    if (v !== undefined) merged[key] = v;
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) problems.push(...zodProblems(parsed.error));
  const source = o.configFile ? `${o.configFile} and flags` : "flags";
  if (!parsed.success || problems.length > 0) throw configInvalid(source, problems);
  const c = parsed.data;
  const maxSvid = Math.floor(c.ca_ttl / 6);
  if (c.x509_svid_ttl > maxSvid) problems.push(`x509_svid_ttl: ${c.x509_svid_ttl}s exceeds ca_ttl / 6 = ${maxSvid}s`);
  if (c.jwt_svid_ttl > maxSvid) problems.push(`jwt_svid_ttl: ${c.jwt_svid_ttl}s exceeds ca_ttl / 6 = ${maxSvid}s`);
  const agentSvidTtl = c.agent_api?.agent_svid_ttl;
  if (agentSvidTtl !== undefined && agentSvidTtl > maxSvid) problems.push(`agent_api.agent_svid_ttl: ${agentSvidTtl}s exceeds ca_ttl / 6 = ${maxSvid}s`);
  const dataDir = resolve(o.cwd, c.data_dir);
  let datastore: ServerOptions["datastore"] = { kind: "sqlite", path: join(dataDir, "datastore.sqlite3") };
  if (c.datastore !== undefined) {
    try {
      datastore = parseDatastoreLocation(c.datastore);
      if (datastore.kind === "sqlite") datastore = { kind: "sqlite", path: resolve(o.cwd, datastore.path) };
    } catch (err) {
      problems.push(`datastore: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw configInvalid(source, problems);
  const up = c.upstream_authority;
  return Object.freeze({
    trustDomain: c.trust_domain,
    serverId: c.server_id ?? sanitizeHostname(hostname()),
    dataDir,
    bindAddress: c.bind_address,
    adminSocket: c.admin_socket,
    datastore,
    caTtlSeconds: c.ca_ttl,
    x509SvidTtlSeconds: c.x509_svid_ttl,
    jwtSvidTtlSeconds: c.jwt_svid_ttl,
    keyManager: c.key_manager,
    caKeyType: c.ca_key_type,
    jwtKeyType: c.jwt_key_type,
    ...(c.jwt_issuer !== undefined ? { jwtIssuer: c.jwt_issuer } : {}),
    ...(up
      ? { upstreamAuthority: { certFile: resolve(o.cwd, up.cert_file), keyFile: resolve(o.cwd, up.key_file), ...(up.bundle_file ? { bundleFile: resolve(o.cwd, up.bundle_file) } : {}) } }
      : {}),
    logLevel: c.log_level,
    healthAddress: c.health_address,
    ...(c.metrics_address ? { metricsAddress: c.metrics_address } : {}),
    bundleRefreshHintSeconds: c.bundle_refresh_hint,
    peerRefreshIntervalSeconds: c.peer_refresh_interval,
    ...(c.agent_api !== undefined ? { agentApi: agentApiLimits(c.agent_api) } : {}),
    ...(c.node_attestors !== undefined ? { nodeAttestors: c.node_attestors } : {}),
  });
}

function agentApiLimits(a: { attestations_per_second?: number | undefined; signings_per_second?: number | undefined; agent_svid_ttl?: number | undefined }): AgentApiLimits {
  return Object.freeze({
    ...(a.attestations_per_second !== undefined ? { attestationsPerSecond: a.attestations_per_second } : {}),
    ...(a.signings_per_second !== undefined ? { signingsPerSecond: a.signings_per_second } : {}),
    ...(a.agent_svid_ttl !== undefined ? { agentSvidTtlSeconds: a.agent_svid_ttl } : {}),
  });
}

function sanitizeHostname(h: string): string {
  const s = h.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
  return s === "" ? "server" : s;
}
