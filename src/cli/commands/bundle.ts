// `spindle bundle show|list|set|delete`: the trust domain's bundle and federated bundles.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { spindleError } from "../../common/errors.js";
import { parsePem } from "../../common/pem.js";
import { createBundle, decodeSpiffeBundle, encodeSpiffeBundle, parseSpiffeId, parseTrustDomain, type TrustDomain } from "../../spiffe/index.js";
import type { CliIO } from "../io.js";
import { addAdminOptions, failWith, iso, rfc3339, runAdmin, type AdminCommandOptions } from "./admin-common.js";

type Format = "pem" | "spiffe";

export function registerBundleCommands(group: Command, io: CliIO): void {
  addAdminOptions(group.command("show").description("print this trust domain's bundle"))
    .addOption(new Option("--format <format>", "bundle format").choices(["pem", "spiffe"]).default("pem"))
    .action(async (opts: AdminCommandOptions & { format: Format }) => {
      await runAdmin(io, opts, (c) => c.getBundle({}), {
        json: (r) => ({ trustDomain: r.trustDomain, sequence: Number(r.sequence), bundle: opts.format === "pem" ? r.pem : JSON.parse(r.spiffeBundle) }),
        text: (r) => (opts.format === "pem" ? r.pem : JSON.stringify(JSON.parse(r.spiffeBundle), null, 2) + "\n"),
      });
    });

  addAdminOptions(group.command("list").description("list federated bundles"))
    .option("--id <trust-domain>", "only this trust domain")
    .action(async (opts: AdminCommandOptions & { id?: string }) => {
      await runAdmin(io, opts, async (c) => (await c.listFederatedBundles({})).bundles.filter((b) => opts.id === undefined || b.trustDomain === opts.id), {
        json: (bs) => ({ bundles: bs.map((b) => ({ trustDomain: b.trustDomain, updatedAt: rfc3339(b.updatedAt), bundle: JSON.parse(b.spiffeBundle) })) }),
        text: (bs) => (bs.length === 0 ? "No federated bundles\n" : bs.map((b) => `${b.trustDomain} (updated ${iso(b.updatedAt)})\n${b.spiffeBundle}\n`).join("\n")),
      });
    });

  addAdminOptions(group.command("set").description("set (create or replace) a federated trust domain's bundle"))
    .requiredOption("--id <trust-domain>", "the federated trust domain: a name (partner.org) or its SPIFFE ID (spiffe://partner.org)")
    .requiredOption("--path <file>", "bundle file, or - for stdin")
    .addOption(new Option("--format <format>", "bundle file format: a SPIFFE bundle (JSON) or PEM CA certificates").choices(["spiffe", "pem"]).default("spiffe"))
    .action(async (opts: AdminCommandOptions & { id: string; path: string; format: Format }) => {
      let text: string;
      try {
        text = readFileSync(opts.path === "-" ? 0 : opts.path, "utf8");
      } catch (err) {
        failWith(io, opts, spindleError("ERR_INVALID_ARGUMENT", `--path ${opts.path}: ${(err as Error).message}`));
      }
      // Everything is checked here, before the admin API is called: a bad input stores nothing.
      let td: TrustDomain;
      let doc: string;
      try {
        td = trustDomainArg(opts.id);
        doc = opts.format === "pem" ? spiffeFromPem(td, text, opts.path) : checkedSpiffe(td, text, opts.path);
      } catch (err) {
        failWith(io, opts, err);
      }
      await runAdmin(io, opts, (c) => c.setFederatedBundle({ trustDomain: td.name, spiffeBundle: doc }), {
        json: (b) => ({ trustDomain: b.trustDomain, updatedAt: rfc3339(b.updatedAt) }),
        text: (b) => `Bundle of ${b.trustDomain} set\n`,
      });
    });

  addAdminOptions(group.command("delete").description("delete a federated trust domain's bundle"))
    .requiredOption("--id <trust-domain>", "the federated trust domain")
    .action(async (opts: AdminCommandOptions & { id: string }) => {
      await runAdmin(io, opts, (c) => c.deleteFederatedBundle({ trustDomain: opts.id }), {
        json: () => ({ deleted: opts.id }),
        text: () => `Bundle of ${opts.id} deleted\n`,
      });
    });
}

/** `--id`: a trust domain name or the trust domain's SPIFFE ID (spiffe://td, no path). */
function trustDomainArg(value: string): TrustDomain {
  if (!value.toLowerCase().startsWith("spiffe:")) {
    try {
      return parseTrustDomain(value);
    } catch (err) {
      throw spindleError("ERR_TRUST_DOMAIN_INVALID", `--id ${JSON.stringify(value)}: ${(err as Error).message}`, { cause: err });
    }
  }
  let id;
  try {
    id = parseSpiffeId(value);
  } catch (err) {
    throw spindleError("ERR_TRUST_DOMAIN_INVALID", `--id ${JSON.stringify(value)}: ${(err as Error).message}`, { cause: err });
  }
  if (id.path !== "") {
    throw spindleError("ERR_TRUST_DOMAIN_INVALID", `--id ${JSON.stringify(value)}: a trust domain's SPIFFE ID has no path (spiffe://${id.trustDomain.name})`);
  }
  return id.trustDomain;
}

const looksLikePem = (text: string) => text.trimStart().startsWith("-----BEGIN ");

/** A SPIFFE bundle document, decoded here so a bad one is refused with its JSON path. */
function checkedSpiffe(td: TrustDomain, text: string, path: string): string {
  if (looksLikePem(text)) throw spindleError("ERR_BUNDLE_INVALID", `--path ${path}: holds PEM, not a SPIFFE bundle (JSON); use --format pem`);
  decodeSpiffeBundle(td, text);
  return text;
}

/** PEM CA certificates (SPIFFE_Trust_Domain_and_Bundle section 4: X.509 authorities only) as a SPIFFE bundle. */
function spiffeFromPem(td: TrustDomain, text: string, path: string): string {
  if (!looksLikePem(text) && text.trimStart().startsWith("{")) {
    throw spindleError("ERR_PEM_INVALID", `--path ${path}: holds JSON, not PEM; use --format spiffe for a SPIFFE bundle`);
  }
  const blocks = parsePem(text);
  if (blocks.length === 0) throw spindleError("ERR_PEM_INVALID", `--path ${path}: no PEM CERTIFICATE block found`);
  const other = blocks.find((b) => b.label !== "CERTIFICATE");
  if (other) throw spindleError("ERR_PEM_INVALID", `--path ${path}: holds a "${other.label}" PEM block; a bundle holds only CERTIFICATE blocks`);
  const ders = blocks.map((b, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(b.der);
    } catch (err) {
      throw spindleError("ERR_PEM_INVALID", `--path ${path}: certificate #${i + 1} is not a DER X.509 certificate`, { cause: err });
    }
    if (!cert.ca) throw spindleError("ERR_BUNDLE_INVALID", `--path ${path}: certificate #${i + 1} (${cert.subject.replace(/\n/g, ", ")}) is not a CA certificate (basicConstraints cA is not true)`);
    return b.der;
  });
  return encodeSpiffeBundle(createBundle({ trustDomain: td, x509Authorities: ders }));
}
