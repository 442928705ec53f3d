// `spindle bundle show|list|set|delete`: the trust domain's bundle and federated bundles.
import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { spindleError } from "../../common/errors.js";
import type { CliIO } from "../program.js";
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
    .requiredOption("--id <trust-domain>", "the federated trust domain (name, no scheme)")
    .requiredOption("--path <file>", "SPIFFE bundle JSON file, or - for stdin")
    .action(async (opts: AdminCommandOptions & { id: string; path: string }) => {
      let doc: string;
      try {
        doc = readFileSync(opts.path === "-" ? 0 : opts.path, "utf8");
      } catch (err) {
        failWith(io, opts, spindleError("ERR_INVALID_ARGUMENT", `--path ${opts.path}: ${(err as Error).message}`));
      }
      await runAdmin(io, opts, (c) => c.setFederatedBundle({ trustDomain: opts.id, spiffeBundle: doc }), {
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
