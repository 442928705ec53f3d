// Which X.509 authorities the agent verifies the server with at start (docs/config/agent.md,
// `trust_bundle`). The configured bundle is for first contact only: once the data dir holds the
// bundle the server sent (kept current by every sync), that one wins, because after a CA rotation
// the configured file still names the authorities that were current when it was written.
//
// An operator may still hand a newer bundle to an agent that has one (its stored bundle is so old
// that the server's authorities all rotated past it, e.g. a node powered off for weeks). The rule:
// a configured authority missing from the stored bundle is trusted in addition only when it is
// newer (notBefore later) than every stored authority and not expired. Older extra authorities are
// what a stale bootstrap file holds (rotated out, possibly revoked after a compromise): they are
// never trusted again. The next successful sync replaces all of this with the server's bundle.
import { X509Certificate } from "node:crypto";

export type TrustSource = "none" | "configured" | "stored" | "stored+configured";

export interface TrustChoice {
  readonly ders: readonly Uint8Array[] | undefined;
  readonly source: TrustSource;
  /** Configured authorities trusted in addition to the stored bundle (subject names). */
  readonly added: readonly string[];
  /** Configured authorities left out: not in the stored bundle and not newer, or expired. */
  readonly ignored: readonly string[];
}

export function chooseServerTrust(o: { configured: readonly Uint8Array[] | undefined; stored: readonly Uint8Array[] | undefined; now: number }): TrustChoice {
  const { configured, stored } = o;
  if (stored === undefined || stored.length === 0) {
    return { ders: configured, source: configured === undefined ? "none" : "configured", added: [], ignored: [] };
  }
  if (configured === undefined) return { ders: stored, source: "stored", added: [], ignored: [] };
  const key = (d: Uint8Array) => Buffer.from(d).toString("base64");
  const storedKeys = new Set(stored.map(key));
  const newestStored = Math.max(...stored.map((d) => Date.parse(new X509Certificate(d).validFrom)));
  const added: Uint8Array[] = [];
  const addedNames: string[] = [];
  const ignored: string[] = [];
  for (const d of configured) {
    if (storedKeys.has(key(d))) continue;
    const c = new X509Certificate(d);
    const name = `${c.subject.replace(/\n/g, ",")} (serial ${c.serialNumber}, from ${new Date(c.validFrom).toISOString()})`;
    if (Date.parse(c.validFrom) > newestStored && Date.parse(c.validTo) > o.now) {
      added.push(d);
      addedNames.push(name);
    } else ignored.push(name);
  }
  if (added.length === 0) return { ders: stored, source: "stored", added: [], ignored };
  return { ders: [...stored, ...added], source: "stored+configured", added: addedNames, ignored };
}
