// Rendering for `spindle api`: text for people, JSON for scripts, PEM files for --write. Private
// keys are only ever written to files with mode 0600, never printed.
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { certsToPem, derToPem } from "../../common/pem.js";
import type { X509Context, X509SvidDocument } from "../../workload-client/index.js";

function validity(der: Uint8Array): { subject: string; notBefore: string; notAfter: string } {
  const c = new X509Certificate(der);
  return { subject: c.subject.replaceAll("\n", ","), notBefore: new Date(c.validFrom).toISOString(), notAfter: new Date(c.validTo).toISOString() };
}

export function x509ContextJson(ctx: X509Context): unknown {
  return {
    svids: ctx.svids.map((s) => ({
      spiffe_id: s.spiffeId,
      hint: s.hint,
      not_before: validity(s.chainDer[0]!).notBefore,
      not_after: validity(s.chainDer[0]!).notAfter,
      x509_svid_pem: certsToPem(s.chainDer),
      bundle_pem: certsToPem(s.bundleDer),
    })),
    federated_bundles: Object.fromEntries([...ctx.federatedBundles].map(([td, ders]) => [td, certsToPem(ders)])),
  };
}

function svidText(s: X509SvidDocument, i: number): string {
  const leaf = validity(s.chainDer[0]!);
  const lines = [
    `SPIFFE ID:        ${s.spiffeId}${i === 0 ? "  (default)" : ""}`,
    ...(s.hint === "" ? [] : [`Hint:             ${s.hint}`]),
    `SVID valid:       ${leaf.notBefore} .. ${leaf.notAfter}`,
    `Intermediates:    ${s.chainDer.length - 1}`,
    ...s.bundleDer.map((d, n) => `CA #${n + 1} valid:      ${validity(d).notBefore} .. ${validity(d).notAfter}  ${validity(d).subject}`),
  ];
  return lines.join("\n") + "\n";
}

export function x509ContextText(ctx: X509Context): string {
  const parts = ctx.svids.map(svidText);
  const fed = [...ctx.federatedBundles].map(([td, ders]) => `Federated bundle: ${td} (${ders.length} CA${ders.length === 1 ? "" : "s"})`);
  return `Received ${ctx.svids.length} SVID${ctx.svids.length === 1 ? "" : "s"}\n\n${parts.join("\n")}${fed.length > 0 ? `\n${fed.join("\n")}\n` : ""}`;
}

export function bundlesText(x509: ReadonlyMap<string, readonly Uint8Array[]>, jwt: ReadonlyMap<string, string>): string {
  const tds = [...new Set([...x509.keys(), ...jwt.keys()])].sort();
  return tds
    .map((td) => {
      const kids = jwt.has(td) ? (JSON.parse(jwt.get(td)!) as { keys: { kid?: string }[] }).keys.map((k) => k.kid ?? "?") : [];
      return `${td}\n  X.509 authorities: ${x509.get(td)?.length ?? 0}\n  JWT authorities:   ${kids.length === 0 ? "none" : kids.join(", ")}\n`;
    })
    .join("");
}

/**
 * Writes the files SPIRE's `api fetch x509 -write` writes, so scripts work against either: for the
 * N-th SVID (0 = the default) `svid.N.pem` (chain, leaf first), `svid.N.key` (PKCS #8, 0600) and
 * `bundle.N.pem` (its trust domain's CAs), and `federated_bundle.N.M.pem` for the M-th federated
 * bundle, in trust-domain order (docs/commands/api.md).
 */
export async function writeX509Files(dir: string, ctx: X509Context): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const federated = [...ctx.federatedBundles].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [n, s] of ctx.svids.entries()) {
    const files: [string, string, number][] = [
      [`svid.${n}.pem`, certsToPem(s.chainDer), 0o644],
      [`svid.${n}.key`, derToPem(s.privateKeyPkcs8Der, "PRIVATE KEY"), 0o600],
      [`bundle.${n}.pem`, certsToPem(s.bundleDer), 0o644],
      ...federated.map(([, ders], m): [string, string, number] => [`federated_bundle.${n}.${m}.pem`, certsToPem(ders), 0o644]),
    ];
    for (const [name, content, mode] of files) {
      const path = join(dir, name);
      await writeFile(path, content, { mode });
      // writeFile keeps the mode of an existing file; a key file must never stay readable by others.
      await chmod(path, mode);
      written.push(path);
    }
  }
  return written;
}
