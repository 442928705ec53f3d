// `spindle entry create|show|update|delete|count` over the admin socket.
import { readFileSync } from "node:fs";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { Option, type Command } from "commander";
import { spindleError } from "../../common/errors.js";
import { EntryResultSchema, EntrySchema, type BatchEntryResponse } from "../../gen/spindle/admin/v1/admin_pb.js";
import type { CliIO } from "../io.js";
import { addAdminOptions, collect, failWith, runAdmin, type AdminCommandOptions } from "./admin-common.js";
import { entryFromFlags, entryJson, entryText, filterFromFlags, type EntryFlags } from "./entry-flags.js";

type Opts = EntryFlags & AdminCommandOptions & { data?: string; allowUnknownSelectors?: boolean };

/** The admin API's `spindle-warning` response header (e.g. an unknown parent ID), printed on stderr. */
function warningPrinter(io: CliIO) {
  return {
    onHeader: (h: Headers) => {
      const w = h.get("spindle-warning");
      if (w !== null && w !== "") io.stderr(`warning: ${w}\n`);
    },
  };
}

function entryOptions(cmd: Command, what: "create" | "update"): Command {
  const c = cmd
    .option("--spiffe-id <id>", "SPIFFE ID the entry issues")
    .option("--parent-id <id>", "SPIFFE ID of the agent (or spiffe://<td>/spindle/server for node entries)")
    .option("--selector <type:value>", "selector; repeat for several (all must match)", collect)
    .option("--x509-ttl <duration>", "X.509-SVID TTL (e.g. 1h); default: the server's")
    .option("--jwt-ttl <duration>", "JWT-SVID TTL (e.g. 5m); default: the server's")
    .option("--dns <name>", "DNS SAN; repeatable", collect)
    .option("--hint <hint>", "hint delivered with the SVID")
    .option("--federates-with <trust-domain>", "trust domain whose bundle is delivered too; repeatable", collect)
    .option("--admin", "the SVID may call the admin API")
    .option("--expires-at <time>", "ISO 8601 time or epoch seconds after which the entry is ignored")
    .option("--allow-unknown-selectors", "accept selector types and keys Spindle's attestors do not emit (for attestors added later)");
  return what === "create"
    ? c.option("--data <file>", "JSON file with an array of entries (admin API field names) to create in one batch")
    : c.option("--no-admin", "the SVID may no longer call the admin API");
}

function batchJson(r: BatchEntryResponse) {
  return { results: r.results.map((x) => (x.entry === undefined ? toJson(EntryResultSchema, x) : { ...(toJson(EntryResultSchema, x) as object), entry: entryJson(x.entry) })) };
}

function batchText(r: BatchEntryResponse): string {
  return r.results.map((x, i) => (x.status?.code ? `#${i + 1}: error [${x.status.code}]: ${x.status.message}\n` : `#${i + 1}: ok: ${x.entry!.id} ${x.entry!.spiffeId}\n`)).join("");
}

function failIfAnyFailed(io: CliIO, opts: AdminCommandOptions, r: BatchEntryResponse): void {
  const failed = r.results.filter((x) => x.status?.code).length;
  if (failed > 0) failWith(io, opts, spindleError("ERR_INVALID_ARGUMENT", `${failed} of ${r.results.length} entries failed`));
}

export function registerEntryCommands(group: Command, io: CliIO): void {
  entryOptions(addAdminOptions(group.command("create").description("create a registration entry")), "create").action(async (opts: Opts) => {
    if (opts.data !== undefined) {
      let entries: JsonValue;
      try {
        entries = JSON.parse(readFileSync(opts.data, "utf8"));
      } catch (err) {
        failWith(io, opts, spindleError("ERR_INVALID_ARGUMENT", `--data ${opts.data}: ${(err as Error).message}`));
      }
      if (!Array.isArray(entries)) failWith(io, opts, spindleError("ERR_INVALID_ARGUMENT", `--data ${opts.data}: expected a JSON array of entries`));
      const list = wrap(io, opts, () => entries.map((e: JsonValue, i: number) => parseJsonEntry(e, i)));
      const r = await runAdmin(io, opts, (c) => c.batchCreateEntry({ entries: list, allowUnknownSelectors: opts.allowUnknownSelectors === true }, warningPrinter(io)), {
        json: batchJson,
        text: batchText,
      });
      failIfAnyFailed(io, opts, r);
      return;
    }
    const { entry } = build(io, opts);
    await runAdmin(io, opts, (c) => c.createEntry({ entry, allowUnknownSelectors: opts.allowUnknownSelectors === true }, warningPrinter(io)), { json: entryJson, text: entryText });
  });

  entryOptions(addAdminOptions(group.command("update").description("change the given fields of an entry").requiredOption("--id <id>", "entry id")), "update").action(
    async (opts: Opts) => {
      const { entry, fields } = build(io, opts);
      if (fields.length === 0) failWith(io, opts, spindleError("ERR_INVALID_ARGUMENT", "nothing to update: pass at least one field flag"));
      await runAdmin(io, opts, (c) => c.updateEntry({ entry, fields, allowUnknownSelectors: opts.allowUnknownSelectors === true }, warningPrinter(io)), { json: entryJson, text: entryText });
    },
  );

  addAdminOptions(group.command("show").description("show one entry (--id) or the entries matching the filters"))
    .option("--id <id>", "entry id")
    .option("--spiffe-id <id>", "only entries with this SPIFFE ID")
    .option("--parent-id <id>", "only entries with this parent ID")
    .option("--selector <type:value>", "only entries having this selector; repeatable", collect)
    .option("--federates-with <trust-domain>", "only entries federating with this trust domain; repeatable", collect)
    .addOption(
      new Option("--match-selectors-on <how>", "how --selector matches: superset (the entry has all of them), exact, subset (the entry's selectors are all among them), any")
        .choices(["exact", "subset", "superset", "any"])
        .default("superset"),
    )
    .action(async (opts: Opts) => {
      if (opts.id !== undefined) {
        await runAdmin(io, opts, (c) => c.getEntry({ id: opts.id! }), { json: entryJson, text: entryText });
        return;
      }
      const filter = wrap(io, opts, () => filterFromFlags(opts));
      await runAdmin(
        io,
        opts,
        async (c) => {
          const all = [];
          let pageToken = "";
          do {
            const page = await c.listEntries({ filter, pageToken });
            all.push(...page.entries);
            pageToken = page.nextPageToken;
          } while (pageToken !== "");
          return all;
        },
        { json: (es) => ({ entries: es.map(entryJson) }), text: (es) => `Found ${es.length} entr${es.length === 1 ? "y" : "ies"}\n` + es.map((e) => "\n" + entryText(e)).join("") },
      );
    });

  addAdminOptions(group.command("delete").description("delete entries by id"))
    .requiredOption("--id <id>", "entry id; repeatable", collect)
    .action(async (opts: AdminCommandOptions & { id: string[] }) => {
      const r = await runAdmin(io, opts, (c) => c.batchDeleteEntry({ ids: opts.id }), { json: batchJson, text: batchText });
      failIfAnyFailed(io, opts, r);
    });

  addAdminOptions(group.command("count").description("count entries matching the filters"))
    .option("--spiffe-id <id>", "only entries with this SPIFFE ID")
    .option("--parent-id <id>", "only entries with this parent ID")
    .option("--selector <type:value>", "only entries having this selector; repeatable", collect)
    .option("--federates-with <trust-domain>", "only entries federating with this trust domain; repeatable", collect)
    .addOption(new Option("--match-selectors-on <how>", "how --selector matches (as for show)").choices(["exact", "subset", "superset", "any"]).default("superset"))
    .action(async (opts: Opts) => {
      const filter = wrap(io, opts, () => filterFromFlags(opts));
      await runAdmin(io, opts, (c) => c.countEntries({ filter }), { json: (r) => ({ count: Number(r.count) }), text: (r) => `${r.count} registration entries\n` });
    });
}

function wrap<T>(io: CliIO, opts: Opts, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    failWith(io, opts, err);
  }
}

function build(io: CliIO, opts: Opts) {
  return wrap(io, opts, () => entryFromFlags(opts));
}

function parseJsonEntry(value: JsonValue, i: number) {
  try {
    return fromJson(EntrySchema, value);
  } catch (err) {
    throw spindleError("ERR_INVALID_ARGUMENT", `--data: entry #${i + 1}: ${(err as Error).message}`);
  }
}
