// The trust domain's own bundle contents (SPIFFE Trust Domain and Bundle standard, section 4) as
// this replica sees them: its own authorities in every state (a prepared one is published before it
// signs, an old one until it expires) plus those of the other replicas sharing the journal store
// (HA). In upstream mode the X.509 part is the upstream root(s) instead: our CAs are intermediates.
import type { Clock, Logger } from "../../common/index.js";
import type { AuthorityJournal, AuthorityState, JwtAuthorityRecord, OwnBundleContents, X509AuthorityRecord } from "../contracts.js";
import type { UpstreamAuthority } from "./upstream.js";

export type AuthorityStatus = AuthorityState | "tainted" | "unknown";

export interface BundleViewOptions {
  serverId: string;
  upstream: UpstreamAuthority | undefined;
  clock: Clock;
  logger: Logger;
}

export function createBundleView(opts: BundleViewOptions) {
  let others: AuthorityJournal = { x509: [], jwt: [] };
  let othersRevision = 0;
  let ownRevision = 0;
  let all: { x509: X509AuthorityRecord[]; jwt: JwtAuthorityRecord[] } = { x509: [], jwt: [] };
  let x509Ders: { der: Buffer; notAfter: number }[] = [];
  let fingerprint = "";
  const listeners = new Set<() => void>();

  const fingerprintOf = () =>
    [...all.x509.map((r) => `x:${r.id}:${r.state}:${r.tainted}`), ...all.jwt.map((r) => `j:${r.kid}:${r.state}:${r.tainted}`)].sort().join(",");

  return {
    /** Other replicas' journals (from AuthorityJournalStore.loadAll; our own entries are ignored). */
    setOthers(journals: readonly AuthorityJournal[]) {
      // A journal is one replica's: it is ours when it holds a record of ours (a replica that has
      // never saved has no row at all).
      const theirs = journals.filter((j) => ![...j.x509, ...j.jwt].some((r) => r.serverId === opts.serverId));
      othersRevision = theirs.reduce((sum, j) => sum + (j.revision ?? 0), 0);
      others = {
        x509: journals.flatMap((j) => j.x509).filter((r) => r.serverId !== opts.serverId),
        jwt: journals.flatMap((j) => j.jwt).filter((r) => r.serverId !== opts.serverId),
      };
    },
    /** Recomputes from our own records; true when the published set (ids, states, taints) changed. */
    update(ownX509: readonly X509AuthorityRecord[], ownJwt: readonly JwtAuthorityRecord[], ownJournalRevision: number): boolean {
      ownRevision = ownJournalRevision;
      all = { x509: [...ownX509, ...others.x509], jwt: [...ownJwt, ...others.jwt] };
      x509Ders = opts.upstream
        ? opts.upstream.roots.map((der) => ({ der, notAfter: Infinity }))
        : all.x509.map((r) => ({ der: Buffer.from(r.certDer, "base64"), notAfter: r.notAfter }));
      const next = fingerprintOf();
      const changed = next !== fingerprint;
      fingerprint = next;
      return changed;
    },
    contents(): OwnBundleContents {
      const now = opts.clock.now();
      return {
        x509Authorities: x509Ders.filter((c) => c.notAfter > now).map((c) => c.der),
        jwtAuthorities: all.jwt.filter((r) => r.notAfter > now).map((r) => ({ kid: r.kid, publicKeyJwk: { ...r.publicKeyJwk } })),
        sequence: ownRevision + othersRevision,
      };
    },
    status(id: string): AuthorityStatus {
      const r = all.x509.find((x) => x.id === id) ?? all.jwt.find((x) => x.kid === id);
      if (r === undefined || r.notAfter <= opts.clock.now()) return "unknown";
      return r.tainted ? "tainted" : r.state;
    },
    onChange(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit() {
      for (const l of [...listeners]) {
        try {
          l();
        } catch (err) {
          opts.logger.error({ err }, "CA change listener threw");
        }
      }
    },
  };
}
