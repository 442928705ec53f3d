// `spindle x509 mint` and `spindle jwt mint`: SVIDs minted directly by the server's CA.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { certsToPem, derToPem } from "../../common/pem.js";
import type { MintX509SVIDResponse } from "../../gen/spindle/admin/v1/admin_pb.js";
import type { CliIO } from "../io.js";
import { addAdminOptions, collect, failWith, iso, rfc3339, runAdmin, type AdminCommandOptions } from "./admin-common.js";
import { ttlFlag } from "./entry-flags.js";

function ttlOrFail(io: CliIO, opts: AdminCommandOptions, value: string | undefined): number {
  try {
    return ttlFlag("--ttl", value) ?? 0;
  } catch (err) {
    failWith(io, opts, err);
  }
}

function pems(r: MintX509SVIDResponse) {
  return { svid: certsToPem(r.certChain), key: derToPem(r.privateKey, "PRIVATE KEY"), bundle: certsToPem(r.bundle) };
}

export function registerX509Commands(group: Command, io: CliIO): void {
  addAdminOptions(group.command("mint").description("mint an X.509-SVID with a fresh key (printed, or written with --write)"))
    .requiredOption("--spiffe-id <id>", "SPIFFE ID of the SVID")
    .option("--ttl <duration>", "lifetime; default: the server's X.509-SVID TTL")
    .option("--dns <name>", "DNS SAN; repeatable", collect, [])
    .option("--write <dir>", "write svid.pem, svid.key (0600) and bundle.pem into this directory")
    .action(async (opts: AdminCommandOptions & { spiffeId: string; ttl?: string; dns: string[]; write?: string }) => {
      const ttl = ttlOrFail(io, opts, opts.ttl);
      const r = await runAdmin(io, opts, (c) => c.mintX509SVID({ spiffeId: opts.spiffeId, ttl, dnsNames: opts.dns }), {
        json: (x) => ({ spiffeId: x.spiffeId, serial: x.serial, expiresAt: rfc3339(x.expiresAt), ...(opts.write ? { dir: opts.write } : pems(x)) }),
        text: (x) =>
          opts.write
            ? `X.509-SVID ${x.spiffeId} (serial ${x.serial}, expires ${iso(x.expiresAt)}) written to ${opts.write}\n`
            : `${pems(x).svid}${pems(x).key}${pems(x).bundle}`,
      });
      if (opts.write) {
        const p = pems(r);
        mkdirSync(opts.write, { recursive: true, mode: 0o700 });
        writeFileSync(join(opts.write, "svid.pem"), p.svid, { mode: 0o644 });
        writeFileSync(join(opts.write, "svid.key"), p.key, { mode: 0o600 });
        chmodSync(join(opts.write, "svid.key"), 0o600);
        writeFileSync(join(opts.write, "bundle.pem"), p.bundle, { mode: 0o644 });
      }
    });
}

export function registerJwtCommands(group: Command, io: CliIO): void {
  addAdminOptions(group.command("mint").description("mint a JWT-SVID"))
    .requiredOption("--spiffe-id <id>", "SPIFFE ID (the sub claim)")
    .requiredOption("--audience <aud>", "audience; repeatable", collect)
    .option("--ttl <duration>", "lifetime; default: the server's JWT-SVID TTL")
    .action(async (opts: AdminCommandOptions & { spiffeId: string; audience: string[]; ttl?: string }) => {
      const ttl = ttlOrFail(io, opts, opts.ttl);
      await runAdmin(io, opts, (c) => c.mintJWTSVID({ spiffeId: opts.spiffeId, audience: opts.audience, ttl }), {
        json: (x) => ({ spiffeId: x.spiffeId, token: x.token, kid: x.kid, expiresAt: rfc3339(x.expiresAt) }),
        text: (x) => `${x.token}\n`,
      });
    });
}
