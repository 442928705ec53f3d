// `spindle federation create|update|list|show|delete|refresh`: federation relationships on a
// server (docs/commands/federation.md). Bootstrap bundle files are read here and sent as content;
// ca_file is a path on the server and is sent absolute.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { spindleError } from "../../common/errors.js";
import type { FederationRelationship } from "../../gen/spindle/admin/v1/admin_pb.js";
import type { CliIO } from "../io.js";
import { addAdminOptions, failWith, iso, runAdmin, type AdminCommandOptions } from "./admin-common.js";

interface RelationshipFlags {
  trustDomain?: string;
  bundleEndpointUrl?: string;
  bundleEndpointProfile?: string;
  endpointSpiffeId?: string;
  caFile?: string;
  trustDomainBundlePath?: string;
  trustDomainBundleFormat?: string;
  data?: string;
}
type Opts = AdminCommandOptions & RelationshipFlags;

type Message = Partial<Pick<FederationRelationship, "trustDomain" | "bundleEndpointUrl" | "bundleEndpointProfile" | "endpointSpiffeId" | "caFile" | "trustDomainBundle" | "trustDomainBundleFormat">>;

const DATA_KEYS = ["trust_domain", "bundle_endpoint_url", "bundle_endpoint_profile", "endpoint_spiffe_id", "ca_file", "trust_domain_bundle_path", "trust_domain_bundle_format", "trust_domain_bundle"];

function bad(message: string): never {
  throw spindleError("ERR_INVALID_ARGUMENT", message);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path === "-" ? 0 : resolve(path), "utf8");
  } catch (err) {
    bad(`${what} ${path}: ${(err as Error).message}`);
  }
}

function bundleFields(path: string | undefined, format: string | undefined, where: string): Message {
  if (path === undefined) {
    if (format !== undefined) bad(`${where}trust-domain-bundle-format: only applies with a bundle path`);
    return {};
  }
  return { trustDomainBundle: readText(path, `${where}trust-domain-bundle-path`), trustDomainBundleFormat: format ?? "spiffe" };
}

function fromFlags(o: RelationshipFlags): Message {
  return {
    ...(o.trustDomain !== undefined ? { trustDomain: o.trustDomain } : {}),
    ...(o.bundleEndpointUrl !== undefined ? { bundleEndpointUrl: o.bundleEndpointUrl } : {}),
    ...(o.bundleEndpointProfile !== undefined ? { bundleEndpointProfile: o.bundleEndpointProfile } : {}),
    ...(o.endpointSpiffeId !== undefined ? { endpointSpiffeId: o.endpointSpiffeId } : {}),
    ...(o.caFile !== undefined ? { caFile: resolve(o.caFile) } : {}),
    ...bundleFields(o.trustDomainBundlePath, o.trustDomainBundleFormat, "--"),
  };
}

/** `--data`: a JSON list of relationships with the config file's keys (or {"federation_relationships": [...]}). */
function fromData(path: string, o: RelationshipFlags): Message[] {
  const flags: (keyof RelationshipFlags)[] = ["trustDomain", "bundleEndpointUrl", "bundleEndpointProfile", "endpointSpiffeId", "caFile", "trustDomainBundlePath", "trustDomainBundleFormat"];
  const others = flags.filter((k) => o[k] !== undefined);
  if (others.length > 0) bad("--data cannot be combined with the other relationship flags");
  let doc: unknown;
  try {
    doc = JSON.parse(readText(path, "--data"));
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_INVALID_ARGUMENT") throw err;
    bad(`--data ${path}: not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { federation_relationships?: unknown } | null)?.federation_relationships;
  if (!Array.isArray(list) || list.length === 0) bad(`--data ${path}: expected a non-empty JSON list of relationships`);
  return list.map((item: unknown, i) => {
    const where = `--data ${path}: [${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) bad(`${where}: must be an object`);
    const r = item as Record<string, unknown>;
    const unknown = Object.keys(r).filter((k) => !DATA_KEYS.includes(k));
    if (unknown.length > 0) bad(`${where}: unknown key(s) ${unknown.join(", ")} (known: ${DATA_KEYS.join(", ")})`);
    const str = (k: string): string | undefined => {
      const v = r[k];
      if (v === undefined) return undefined;
      if (typeof v !== "string") bad(`${where}.${k}: must be a string`);
      return v;
    };
    const inline = r["trust_domain_bundle"];
    if (inline !== undefined && r["trust_domain_bundle_path"] !== undefined) bad(`${where}: give trust_domain_bundle or trust_domain_bundle_path, not both`);
    const bundle: Message =
      inline !== undefined
        ? { trustDomainBundle: typeof inline === "string" ? inline : JSON.stringify(inline), trustDomainBundleFormat: str("trust_domain_bundle_format") ?? "spiffe" }
        : bundleFields(str("trust_domain_bundle_path"), str("trust_domain_bundle_format"), `${where}.`);
    const caFile = str("ca_file");
    return {
      trustDomain: str("trust_domain") ?? "",
      bundleEndpointUrl: str("bundle_endpoint_url") ?? "",
      bundleEndpointProfile: str("bundle_endpoint_profile") ?? "",
      endpointSpiffeId: str("endpoint_spiffe_id") ?? "",
      ...(caFile !== undefined ? { caFile: resolve(caFile) } : {}),
      ...bundle,
    };
  });
}

function relationshipJson(r: FederationRelationship) {
  const s = r.status;
  return {
    trustDomain: r.trustDomain,
    source: r.source,
    bundleEndpointUrl: r.bundleEndpointUrl,
    bundleEndpointProfile: r.bundleEndpointProfile,
    ...(r.endpointSpiffeId !== "" ? { endpointSpiffeId: r.endpointSpiffeId } : {}),
    ...(r.caFile !== "" ? { caFile: r.caFile } : {}),
    status: {
      lastAttempt: iso(s?.lastAttemptAt ?? 0n),
      lastSuccess: iso(s?.lastSuccessAt ?? 0n),
      lastError: s && s.lastErrorReason !== "" ? { reason: s.lastErrorReason, message: s.lastError, at: iso(s.lastErrorAt) } : null,
      nextAttempt: iso(s?.nextAttemptAt ?? 0n),
      bundle: s?.hasBundle
        ? {
            sequence: s.bundleSequence === undefined ? null : Number(s.bundleSequence),
            refreshHintSeconds: s.bundleRefreshHint === undefined ? null : Number(s.bundleRefreshHint),
            x509Authorities: s.x509Authorities,
            jwtAuthorities: s.jwtAuthorities,
            updatedAt: iso(s.bundleUpdatedAt),
          }
        : null,
    },
  };
}

function relationshipText(r: FederationRelationship): string {
  const j = relationshipJson(r);
  const s = j.status;
  const rows: [string, string][] = [
    ["Trust domain", j.trustDomain],
    ["Source", j.source],
    ["Bundle endpoint URL", j.bundleEndpointUrl],
    ["Profile", j.bundleEndpointProfile],
    ...(j.endpointSpiffeId ? [["Endpoint SPIFFE ID", j.endpointSpiffeId] as [string, string]] : []),
    ...(j.caFile ? [["CA file", j.caFile] as [string, string]] : []),
    ["Last success", s.lastSuccess],
    ["Last error", s.lastError ? `${s.lastError.reason} at ${s.lastError.at}: ${s.lastError.message}` : "none"],
    ["Next attempt", s.nextAttempt],
    ["Sequence", s.bundle?.sequence === null || s.bundle === null ? "none" : String(s.bundle.sequence)],
    ["Keys", s.bundle ? `${s.bundle.x509Authorities} X.509, ${s.bundle.jwtAuthorities} JWT (stored ${s.bundle.updatedAt})` : "no bundle stored"],
  ];
  return rows.map(([k, v]) => `${(k + ":").padEnd(21)}${v}`).join("\n") + "\n";
}

function addRelationshipFlags(cmd: Command): Command {
  return cmd
    .option("--trust-domain <name>", "the foreign trust domain (name, no scheme); never taken from the URL")
    .option("--bundle-endpoint-url <url>", "https URL of its bundle endpoint")
    .option("--bundle-endpoint-profile <profile>", "https_web or https_spiffe")
    .option("--endpoint-spiffe-id <id>", "https_spiffe: the SPIFFE ID the endpoint must present")
    .option("--ca-file <path>", "https_web: PEM roots on the server (default: the system roots)")
    .option("--trust-domain-bundle-path <file>", "bootstrap bundle of the trust domain, or - for stdin")
    .option("--trust-domain-bundle-format <format>", "spiffe (default) or pem")
    .option("--data <file>", "a JSON list of relationships (config keys), or - for stdin");
}

export function registerFederationCommands(group: Command, io: CliIO): void {
  addRelationshipFlags(addAdminOptions(group.command("create").description("create federation relationships (all or none)"))).action(async (opts: Opts) => {
    let rels: Message[];
    try {
      rels = opts.data !== undefined ? fromData(opts.data, opts) : [fromFlags(opts)];
    } catch (err) {
      failWith(io, opts, err);
    }
    await runAdmin(io, opts, async (c) => (await c.createFederationRelationships({ relationships: rels })).relationships, {
      json: (rs) => ({ relationships: rs.map(relationshipJson) }),
      text: (rs) => rs.map((r) => `Federation relationship with ${r.trustDomain} created\n`).join(""),
    });
  });

  addRelationshipFlags(addAdminOptions(group.command("update").description("change federation relationships (flags not given keep their value)"))).action(async (opts: Opts) => {
    let given: Message[];
    try {
      given = opts.data !== undefined ? fromData(opts.data, opts) : [fromFlags(opts)];
      for (const g of given) if (!g.trustDomain) bad("--trust-domain is required");
    } catch (err) {
      failWith(io, opts, err);
    }
    await runAdmin(
      io,
      opts,
      async (c) => {
        const out: FederationRelationship[] = [];
        for (const g of given) {
          const cur = await c.getFederationRelationship({ trustDomain: g.trustDomain! });
          const profileChanged = g.bundleEndpointProfile !== undefined && g.bundleEndpointProfile !== cur.bundleEndpointProfile;
          // A profile change drops the other profile's parameter unless it is given again.
          out.push(
            await c.updateFederationRelationship({
              trustDomain: cur.trustDomain,
              bundleEndpointUrl: cur.bundleEndpointUrl,
              bundleEndpointProfile: cur.bundleEndpointProfile,
              endpointSpiffeId: profileChanged ? "" : cur.endpointSpiffeId,
              caFile: profileChanged ? "" : cur.caFile,
              ...g,
            }),
          );
        }
        return out;
      },
      {
        json: (rs) => ({ relationships: rs.map(relationshipJson) }),
        text: (rs) => rs.map((r) => `Federation relationship with ${r.trustDomain} updated\n`).join(""),
      },
    );
  });

  addAdminOptions(group.command("list").description("list federation relationships and their refresh state")).action(async (opts: AdminCommandOptions) => {
    await runAdmin(io, opts, async (c) => (await c.listFederationRelationships({})).relationships, {
      json: (rs) => ({ relationships: rs.map(relationshipJson) }),
      text: (rs) => (rs.length === 0 ? "No federation relationships\n" : rs.map(relationshipText).join("\n")),
    });
  });

  const named = (name: string, description: string, call: "getFederationRelationship" | "deleteFederationRelationship" | "refreshFederationRelationship", done: (r: FederationRelationship) => string) =>
    addAdminOptions(group.command(name).description(description))
      .requiredOption("--trust-domain <name>", "the foreign trust domain")
      .action(async (opts: AdminCommandOptions & { trustDomain: string }) => {
        await runAdmin(io, opts, (c) => c[call]({ trustDomain: opts.trustDomain }), { json: relationshipJson, text: done });
      });
  named("show", "show one relationship: last success, last error, next attempt, sequence, key count", "getFederationRelationship", relationshipText);
  named("delete", "delete a relationship and its stored bundle (refused while entries federate with it)", "deleteFederationRelationship", (r) => `Federation relationship with ${r.trustDomain} deleted (its bundle too)\n`);
  named("refresh", "fetch the trust domain's bundle now", "refreshFederationRelationship", relationshipText);
}
