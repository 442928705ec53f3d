// Text renderings of the agent admin socket's answers (`spindle agent envoys`, `spindle explain`).
import type { Explanation } from "../../agent/admin/explain.js";
import type { EnvoyStatus } from "../../sds/xds-metrics.js";

export function envoysText(r: { envoys: readonly EnvoyStatus[] }): string {
  if (r.envoys.length === 0) return "No Envoy is connected to this agent.\n";
  const lines: string[] = [];
  for (const e of r.envoys) {
    lines.push(`Envoy ${e.nodeId || "(no node id)"}${e.cluster ? ` (cluster ${e.cluster})` : ""}, pid ${e.peer.pid}, uid ${e.peer.uid}`);
    for (const res of e.resources) {
      const acked = res.ackedVersion === undefined ? "not ACKed yet" : `ACKed ${res.ackedVersion} at ${res.ackedAt}`;
      const nack = res.lastNack ? `; last NACK of ${res.lastNack.version} at ${res.lastNack.at}: ${res.lastNack.message}` : "";
      lines.push(`  ${res.service.toUpperCase()} ${res.resource}: sent ${res.sentVersion ?? "nothing yet"}, ${acked}${nack}`);
    }
  }
  return lines.join("\n") + "\n";
}

export function explainText(x: Explanation): string {
  const lines = [x.verdict, ""];
  if (x.attestationError) {
    lines.push(`Attestation failed: ${x.attestationError.code}: ${x.attestationError.message}`);
    return lines.join("\n") + "\n";
  }
  lines.push(`Selectors of pid ${x.pid}:`, ...x.selectors.map((s) => `  ${s}`));
  if (x.identities.length > 0) lines.push("", "Served identities (default first):", ...x.identities.map((i) => `  ${i.spiffeId}  (entry ${i.entryId}, expires ${i.notAfter})`));
  if (x.entries.length > 0) {
    lines.push("", "Entries on this agent:");
    for (const e of x.entries) {
      const state = e.missing.length === 0 ? `matches${e.svid === "pending" ? " (SVID not signed yet)" : ""}` : `missing ${e.missing.join(", ")}`;
      lines.push(`  ${e.spiffeId}  entry ${e.entryId}: ${state}`);
    }
  }
  return lines.join("\n") + "\n";
}
