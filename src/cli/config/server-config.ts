// `spindle server run` configuration: flags -> YAML file -> ${ENV} expansion -> merge -> strict
// schema (unknown keys are errors) -> cross-field checks -> frozen ServerOptions. Every problem is
// reported at once with its path.
import { hostname } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import type { OidcOptions } from "../../ca/oidc/index.js";
import type { AgentApiLimits, FederationOptions, ServerOptions, HostPort } from "../../ca/server/options.js";
import type { BundleEndpointProfile } from "../../ca/federation/bundle-endpoint.js";
import { PUBLISH_HINT_MULTIPLE } from "../../ca/authority/index.js";
import { parseDatastoreLocation } from "../../ca/datastore/index.js";
import { trustDomainProblem } from "../../ca/registration/index.js";
import { formatDuration, parseDurationSeconds } from "./duration.js";
import { relationshipProblems, validateRelationship, type ValidatedRelationship } from "../../ca/federation/index.js";
import { readFileSync } from "node:fs";
import { configInvalid, expandEnv, readYamlFile, zodProblems, type Problem } from "./load.js";
import { socketDefaults } from "./socket-defaults.js";


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

/** `federation.federates_with.<trust-domain>` (docs/config/server.md, docs/federation.md). */
const federatesWithSchema = z.record(
  z.string(),
  z.strictObject({
    bundle_endpoint_url: z.string({ error: "is required" }),
    // Checked with the other relationship rules, so every problem is listed at once.
    bundle_endpoint_profile: z.string({ error: 'is required ("https_web" or "https_spiffe")' }),
    endpoint_spiffe_id: z.string().optional(),
    ca_file: z.string().min(1).optional(),
    trust_domain_bundle_path: z.string().min(1).optional(),
    trust_domain_bundle_format: z.enum(["spiffe", "pem"], { error: 'must be "spiffe" or "pem"' }).optional(),
  }),
);
type FederatesWith = z.infer<typeof federatesWithSchema>;

// RFC 1123 host names (the Host allow-list of a public listener).
const hostName = z
  .string()
  .regex(/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/, "must be a host name without port or scheme");

/** `oidc`: OIDC discovery for JWT-SVIDs (docs/oidc.md). Cross-field rules are checked in loadServerConfig. */
export const oidcSchema = z.strictObject({
  address: address("0.0.0.0:8443"),
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  insecure_http: z.boolean().default(false),
  issuer: z.url().optional(),
  path_prefix: z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, "must be an absolute URL path (starting with /)").optional(),
  set_key_use: z.boolean().default(false),
  domains: z.array(hostName).min(1, "must list at least one host name when set").optional(),
});

// `federation.bundle_endpoint`: serving this trust domain's bundle (SPIFFE_Federation section 4).
const bundleEndpointSchema = z.strictObject({
  address: z.string({ error: "is required (host:port to listen on)" }).pipe(hostPort),
  refresh_hint: duration("5m"),
  profile: z.enum(["https_spiffe", "https_web"]).default("https_spiffe"),
  // https_web only.
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
});

const federationSchema = z.strictObject({
  bundle_endpoint: bundleEndpointSchema.optional(),
  federates_with: federatesWithSchema.optional(),
  // Floor of the refresher's poll interval (docs/federation.md "Refresh timing"); lowered only for
  // labs and tests that need a peer's rotation to arrive within seconds.
  refresh_floor: optionalDuration,
});

const schema = z.strictObject({
  trust_domain: z.string({ error: "is required" }).refine((v) => !trustDomainProblem(v), { error: (i) => trustDomainProblem(String(i.input)) }),
  server_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 of [A-Za-z0-9._-]").optional(),
  data_dir: z.string().min(1).default("/var/lib/spindle/server"),
  bind_address: address("0.0.0.0:8081"),
  // Default filled in before parsing (socket-defaults.ts): it depends on the user.
  admin_socket: z.string().refine(isAbsolute, "must be an absolute path"),
  datastore: z.string().min(1).optional(),
  ca_ttl: duration("24h"),
  x509_svid_ttl: duration("1h"),
  jwt_svid_ttl: duration("5m"),
  key_manager: z.enum(["disk", "memory"]).default("disk"),
  ca_key_type: keyType.default("ec-p256"),
  // RS256: the one JWS algorithm AWS, GCP and Azure all accept for federated tokens (docs/oidc.md).
  jwt_key_type: keyType.default("rsa-2048"),
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
  oidc: oidcSchema.optional(),
  federation: federationSchema.optional(),
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
  /** The uid the server runs as (the default admin socket depends on it); default: this process's. */
  uid?: number;
}

export function loadServerConfig(o: LoadServerConfigOptions): Readonly<ServerOptions> {
  const problems: Problem[] = [];
  const fromFile = o.configFile ? expandEnv(readYamlFile(resolve(o.cwd, o.configFile)), o.env, problems) : {};
  const merged: Record<string, unknown> = { ...(fromFile as Record<string, unknown>) };
  for (const [flag, key] of Object.entries(FLAG_KEYS)) {
    const v = o.flags[flag as keyof ServerFlags];
    if (v !== undefined) merged[key] = v;
  }
  merged["admin_socket"] ??= socketDefaults(o.env, o.uid ?? process.getuid?.()).serverAdminSocket;
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
  const oidc = c.oidc ? oidcOptions(c.oidc, c.jwt_issuer, o.cwd, problems) : undefined;
  const warnings: string[] = [];
  const federation = resolveFederation(c.federation, merged, o.cwd, problems);
  const refreshHint = federation?.bundleEndpoint?.refreshHintSeconds ?? c.bundle_refresh_hint;
  checkRotationTiming(c.ca_ttl, refreshHint, c.peer_refresh_interval, federation?.bundleEndpoint !== undefined, problems, warnings);
  const federatesWith = federationRelationships(c.federation?.federates_with ?? {}, c.trust_domain, o.cwd, problems);
  const refreshFloor = c.federation?.refresh_floor;
  if (refreshFloor !== undefined && refreshFloor < 1) problems.push("federation.refresh_floor: must be at least 1s");
  if (refreshFloor !== undefined && refreshFloor < 30) warnings.push(`federation.refresh_floor: ${refreshFloor}s is below the default 30s; a peer's hint this low makes this server poll it that often`);
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
    bundleRefreshHintSeconds: refreshHint,
    ...(federation !== undefined ? { federation } : {}),
    ...(warnings.length > 0 ? { configWarnings: Object.freeze(warnings) } : {}),
    peerRefreshIntervalSeconds: c.peer_refresh_interval,
    ...(c.agent_api !== undefined ? { agentApi: agentApiLimits(c.agent_api) } : {}),
    ...(c.node_attestors !== undefined ? { nodeAttestors: c.node_attestors } : {}),
    ...(oidc ? { oidc } : {}),
    ...(federatesWith.length > 0 ? { federatesWith } : {}),
    ...(refreshFloor !== undefined ? { federationTiming: { minIntervalMs: refreshFloor * 1000 } } : {}),
  });
}

/** The `oidc` section's cross-field rules (every problem with its path), then the resolved options. */
function oidcOptions(c: z.infer<typeof oidcSchema>, jwtIssuer: string | undefined, cwd: string, problems: Problem[]): OidcOptions | undefined {
  const before = problems.length;
  const issuer = c.issuer ?? jwtIssuer;
  let url: URL | undefined;
  if (issuer === undefined) {
    problems.push("oidc.issuer: is required (or set jwt_issuer): JWT-SVIDs need an iss claim equal to the discovery issuer");
  } else {
    url = new URL(issuer);
    if (url.protocol !== "https:") problems.push(`oidc.issuer: ${JSON.stringify(issuer)} must be an https URL (relying parties fetch the discovery document from it)`);
    if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
      problems.push(`oidc.issuer: ${JSON.stringify(issuer)} must have no query, fragment or user info`);
    }
    if (jwtIssuer === undefined) {
      problems.push(`jwt_issuer: is unset but oidc.issuer is ${JSON.stringify(issuer)}: JWT-SVIDs would carry no iss; set jwt_issuer to the same URL`);
    } else if (issuer !== jwtIssuer) {
      problems.push(`oidc.issuer: ${JSON.stringify(issuer)} differs from jwt_issuer ${JSON.stringify(jwtIssuer)}; they must be the same string (tokens' iss is compared with the discovery issuer exactly)`);
    }
  }
  const hasTls = c.cert_file !== undefined || c.key_file !== undefined;
  if (c.insecure_http && hasTls) problems.push("oidc: set either cert_file and key_file, or insecure_http: true, not both");
  if (!c.insecure_http && (c.cert_file === undefined || c.key_file === undefined)) {
    problems.push("oidc: cert_file and key_file are both required (or insecure_http: true behind a TLS-terminating proxy)");
  }
  if (problems.length > before || issuer === undefined || url === undefined) return undefined;
  return Object.freeze({
    address: c.address,
    tls: c.insecure_http ? undefined : { certFile: resolve(cwd, c.cert_file!), keyFile: resolve(cwd, c.key_file!) },
    insecureHttp: c.insecure_http,
    issuer,
    pathPrefix: c.path_prefix ?? url.pathname,
    setKeyUse: c.set_key_use,
    domains: Object.freeze(c.domains ?? [url.hostname.replace(/^\[(.*)\]$/, "$1")]),
  });
}

type FederationConfig = z.infer<typeof federationSchema>;

const MIN_HINT_SECONDS = 60;
const MAX_HINT_SECONDS = 86_400;

function resolveFederation(f: FederationConfig | undefined, raw: Record<string, unknown>, cwd: string, problems: Problem[]): FederationOptions | undefined {
  if (f === undefined) return undefined;
  const be = f.bundle_endpoint;
  if (be === undefined) return Object.freeze({});
  const at = "federation.bundle_endpoint";
  // One published hint: the endpoint's wins; a different top-level value would contradict it.
  if (raw["bundle_refresh_hint"] !== undefined && parseDurationSeconds(raw["bundle_refresh_hint"] as string | number) !== be.refresh_hint) {
    problems.push(`bundle_refresh_hint: differs from ${at}.refresh_hint; set only ${at}.refresh_hint (it is the hint of every published bundle)`);
  }
  let profile: BundleEndpointProfile;
  if (be.profile === "https_web") {
    if (be.cert_file === undefined) problems.push(`${at}.cert_file: is required with profile https_web`);
    if (be.key_file === undefined) problems.push(`${at}.key_file: is required with profile https_web`);
    profile = { kind: "https_web", certFile: resolve(cwd, be.cert_file ?? ""), keyFile: resolve(cwd, be.key_file ?? "") };
  } else {
    for (const k of ["cert_file", "key_file"] as const) {
      if (be[k] !== undefined) problems.push(`${at}.${k}: only with profile https_web (https_spiffe presents the server's own X509-SVID)`);
    }
    profile = { kind: "https_spiffe" };
  }
  return Object.freeze({ bundleEndpoint: Object.freeze({ address: be.address, refreshHintSeconds: be.refresh_hint, profile: Object.freeze(profile) }) });
}

/**
 * A new authority is published PUBLISH_HINT_MULTIPLE refresh hints (plus one peer refresh, for the
 * other replicas) before rotation activates it (SPIFFE_Federation section 4.1). That lead must fit
 * between the prepare point (ca_ttl / 2 before expiry) and the activation point (ca_ttl / 6), or
 * activation is pushed towards the old authority's expiry; see docs/config/server.md.
 */
function checkRotationTiming(caTtl: number, hint: number, peerRefresh: number, endpoint: boolean, problems: Problem[], warnings: string[]): void {
  const key = endpoint ? "federation.bundle_endpoint.refresh_hint" : "bundle_refresh_hint";
  if (hint < MIN_HINT_SECONDS) warnings.push(`${key}: ${formatDuration(hint)} is below 1m; every peer polls this often`);
  if (hint > MAX_HINT_SECONDS) warnings.push(`${key}: ${formatDuration(hint)} is above 24h; peers learn of new authorities this late`);
  const gap = Math.min(caTtl / 2, 30 * 86_400) - Math.min(caTtl / 6, 7 * 86_400);
  const lead = PUBLISH_HINT_MULTIPLE * hint + peerRefresh;
  if (lead > gap) {
    const message = `${key}: ${PUBLISH_HINT_MULTIPLE} x ${formatDuration(hint)} (+ peer_refresh_interval ${formatDuration(peerRefresh)}) = ${formatDuration(lead)} exceeds the ${formatDuration(Math.floor(gap))} between preparing and activating an authority (ca_ttl ${formatDuration(caTtl)}: prepared at ca_ttl / 2 before expiry, activated at ca_ttl / 6); raise ca_ttl to at least ${formatDuration(Math.ceil(lead * 3))} or lower the refresh hint`;
    if (endpoint) problems.push(message);
    else warnings.push(`${message} (no bundle endpoint is configured; rotation still waits for the lead, so activation moves closer to the old authority's expiry)`);
  }
}

/** Validates every relationship (reading bootstrap bundles), adding each problem with its path. */
function federationRelationships(block: FederatesWith, ownTrustDomain: string, cwd: string, problems: Problem[]): ValidatedRelationship[] {
  const out: ValidatedRelationship[] = [];
  for (const [td, r] of Object.entries(block)) {
    const path = `federation.federates_with.${td}`;
    const before = problems.length;
    if (r.trust_domain_bundle_format !== undefined && r.trust_domain_bundle_path === undefined) {
      problems.push(`${path}.trust_domain_bundle_format: only applies with trust_domain_bundle_path`);
    }
    let bootstrap: { content: string; format: string; origin: string } | undefined;
    if (r.trust_domain_bundle_path !== undefined) {
      const file = resolve(cwd, r.trust_domain_bundle_path);
      try {
        bootstrap = { content: readFileSync(file, "utf8"), format: r.trust_domain_bundle_format ?? "spiffe", origin: file };
      } catch (err) {
        problems.push(`${path}.trust_domain_bundle_path: cannot read ${file}: ${(err as Error).message}`);
      }
    }
    const input = {
      trustDomain: td,
      bundleEndpointUrl: r.bundle_endpoint_url,
      profile: r.bundle_endpoint_profile,
      ...(r.endpoint_spiffe_id !== undefined ? { endpointSpiffeId: r.endpoint_spiffe_id } : {}),
      ...(r.ca_file !== undefined ? { caFile: resolve(cwd, r.ca_file) } : {}),
      ...(bootstrap ? { bootstrap } : {}),
    };
    const field = (f: string) => (f === "trust_domain" ? `${path} (trust domain name)` : `${path}.${f === "trust_domain_bundle" ? "trust_domain_bundle_path" : f}`);
    problems.push(...relationshipProblems(input, ownTrustDomain, field).problems);
    if (problems.length === before) out.push(validateRelationship(input, ownTrustDomain, "config"));
  }
  return out;
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
