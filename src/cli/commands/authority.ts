// `spindle authority show|prepare|activate|taint|revoke`: operator control of CA rotation.
import { Option, type Command } from "commander";
import type { Authority } from "../../gen/spindle/admin/v1/admin_pb.js";
import type { CliIO } from "../io.js";
import { addAdminOptions, iso, rfc3339, runAdmin, type AdminCommandOptions } from "./admin-common.js";

type Opts = AdminCommandOptions & { kind: "x509" | "jwt"; id?: string };

function json(a: Authority) {
  return {
    kind: a.kind,
    id: a.id,
    state: a.state,
    tainted: a.tainted,
    notBefore: rfc3339(a.notBefore),
    notAfter: rfc3339(a.notAfter),
    serverId: a.serverId,
    ...(a.state === "prepared" ? { safeToActivateAt: rfc3339(a.safeToActivateAt) } : {}),
  };
}

function text(a: Authority): string {
  const safe = a.state === "prepared" ? `  safe to activate from ${iso(a.safeToActivateAt)}` : "";
  return `${a.kind.padEnd(4)} ${a.state.padEnd(8)} ${a.tainted ? "tainted " : ""}${a.id}  expires ${iso(a.notAfter)}${safe}  (server ${a.serverId})\n`;
}

const kindOption = () => new Option("--kind <kind>", "authority kind").choices(["x509", "jwt"]).makeOptionMandatory();

export function registerAuthorityCommands(group: Command, io: CliIO): void {
  addAdminOptions(group.command("show").description("list this server's X.509 and JWT authorities")).action(async (opts: AdminCommandOptions) => {
    await runAdmin(io, opts, async (c) => (await c.showAuthorities({})).authorities, {
      json: (as) => ({ authorities: as.map(json) }),
      text: (as) => as.map(text).join(""),
    });
  });
  const actions = [
    ["prepare", "create the next authority now (published before it signs)", false],
    ["activate", "make the prepared authority the active one", false],
    ["taint", "mark an old authority tainted (everything it signed must be re-issued)", true],
    ["revoke", "remove a tainted authority from the bundle and delete its key", true],
  ] as const;
  for (const [name, description, needsId] of actions) {
    const cmd = addAdminOptions(group.command(name).description(description)).addOption(kindOption());
    if (needsId) cmd.requiredOption("--id <id>", "authority id (X.509: SKI hex; JWT: kid)");
    cmd.action(async (opts: Opts) => {
      const req = { kind: opts.kind, id: opts.id ?? "" };
      await runAdmin(
        io,
        opts,
        async (c) => {
          const r =
            name === "prepare"
              ? await c.prepareAuthority(req)
              : name === "activate"
                ? await c.activateAuthority(req).then((res) => {
                    if (res.warning !== "") io.stderr(`warning: ${res.warning}\n`);
                    return res;
                  })
                : name === "taint"
                  ? await c.taintAuthority(req)
                  : await c.revokeAuthority(req);
          return r.authority!;
        },
        { json, text },
      );
    });
  }
}
