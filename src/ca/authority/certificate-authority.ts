// The CA of `spindle server`: X.509 and JWT authorities with section 8 rotation, SVID minting,
// the trust domain's own bundle contents, and the management actions behind the admin API.
// Every journal change is saved through the AuthorityJournalStore before listeners hear of it,
// so a restarted instance on the same store and key manager resumes the same authorities.
import { componentLogger } from "../../common/index.js";
import type {
  AuthorityJournal,
  CertificateAuthority,
  JwtAuthorityRecord,
  MintedJwtSvid,
  MintedX509Svid,
  OwnBundleContents,
  X509AuthorityRecord,
} from "../contracts.js";
import { createAuthoritySet, type AuthorityKind } from "./authority-set.js";
import { createJwtAuthority, jwtSigner } from "./jwt-authority.js";
import { resolveOptions, type CertificateAuthorityOptions } from "./options.js";
import { nextRotationEvent } from "./rotation.js";
import { createX509Authority, x509Signer } from "./x509-authority.js";
import { createMinting } from "./minting.js";
import { createBundleView, type AuthorityStatus } from "./bundle-view.js";

export type AuthorityRecordOf<K extends AuthorityKind> = K extends "x509" ? X509AuthorityRecord : JwtAuthorityRecord;

export interface ManagedCertificateAuthority extends CertificateAuthority {
  readonly serverId: string;
  /** How long a prepared authority is published before rotation activates it (ms). */
  readonly publishLeadMs: number;
  /** A copy of this replica's journal (every authority, its state and taint). */
  show(): AuthorityJournal;
  /** Creates a new prepared authority now (replacing a pending prepared one); it is published at once. */
  prepare<K extends AuthorityKind>(kind: K): Promise<AuthorityRecordOf<K>>;
  /** Makes the prepared authority `id` active; the current active one becomes old. */
  activate<K extends AuthorityKind>(kind: K, id: string): Promise<AuthorityRecordOf<K>>;
  /** Marks an old authority tainted: agents must re-issue everything it signed. */
  taint<K extends AuthorityKind>(kind: K, id: string): Promise<AuthorityRecordOf<K>>;
  /**
   * Removes a tainted authority from the journal and the bundle, and deletes its key. In upstream
   * mode the bundle holds the upstream root(s), so this stops all use of the intermediate but
   * cannot withdraw trust in it; that needs the upstream PKI's own revocation.
   */
  revoke<K extends AuthorityKind>(kind: K, id: string): Promise<AuthorityRecordOf<K>>;
  /**
   * Status of the authority that signed an SVID (MintedX509Svid.authorityId or a JWT kid), on this
   * or any other replica. "tainted" and "unknown" (revoked or expired: no longer published) both
   * mean the SVIDs it signed must be re-issued.
   */
  authorityStatus(authorityId: string): AuthorityStatus;
  /** Runs one rotation pass now (also refreshes other replicas' authorities). */
  tick(): Promise<void>;
  /** Re-reads the other replicas' authorities now; listeners hear of it when the published set changed. */
  refreshPeers(): Promise<void>;
  /** Runs rotation and the peer refresh from the injected clock until stop(). */
  start(): void;
  stop(): void;
}

export async function createCertificateAuthority(options: CertificateAuthorityOptions): Promise<ManagedCertificateAuthority> {
  const o = resolveOptions(options);
  const logger = componentLogger(o.logger, "ca", { serverId: o.serverId, trustDomain: o.trustDomain });
  const x509 = createAuthoritySet<X509AuthorityRecord, ReturnType<typeof x509Signer>>(
    {
      kind: "x509",
      idOf: (r) => r.id,
      create: (now) => createX509Authority(o, now),
      signer: x509Signer,
    },
    o.keyManager,
    logger,
    o.publishLeadMs,
  );
  const jwt = createAuthoritySet<JwtAuthorityRecord, ReturnType<typeof jwtSigner>>(
    {
      kind: "jwt",
      idOf: (r) => r.kid,
      create: (now) => createJwtAuthority({ serverId: o.serverId, keyManager: o.keyManager, keyType: o.jwtKeyType, caTtlMs: o.caTtlMs }, now),
      signer: jwtSigner,
    },
    o.keyManager,
    logger,
    o.publishLeadMs,
  );
  const view = createBundleView({ serverId: o.serverId, upstream: o.upstream, clock: o.clock, logger });
  const minting = createMinting({ options: o, x509, jwt });

  let revision = 0;
  const journal = (): AuthorityJournal => structuredClone({ x509: [...x509.records], jwt: [...jwt.records], revision });
  let dirty = false;

  /** Saves (retrying an earlier failed save) and then tells listeners. */
  async function commit(changed: boolean): Promise<void> {
    if (changed) dirty = true;
    if (dirty) {
      // The revision only moves once the journal holding it is stored: the published sequence is
      // derived from stored state (see AuthorityJournal.revision).
      await o.journalStore.save(o.serverId, { ...journal(), revision: revision + 1 });
      revision++;
      dirty = false;
    }
    if (view.update(x509.records, jwt.records, revision) || changed) view.emit();
  }

  /**
   * Runs a change; when it fails half-way (a key generation or key deletion error after records
   * moved) whatever did change is still saved and announced, then the error propagates.
   */
  async function changing<T>(fn: () => Promise<T>, changedOf: (result: T) => boolean): Promise<T> {
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      dirty = true;
      await commit(false).catch((saveErr: unknown) => logger.error({ err: saveErr }, "saving the CA journal failed"));
      throw err;
    }
    await commit(changedOf(result));
    return result;
  }

  // Serialises rotation and management so no two passes interleave on the same records.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  async function rotatePass(): Promise<void> {
    view.setOthers(await o.journalStore.loadAll());
    const now = o.clock.now();
    await changing(
      async () => {
        const x509Changed = await x509.rotate(now);
        const jwtChanged = await jwt.rotate(now);
        return x509Changed || jwtChanged;
      },
      (changed) => changed,
    );
  }

  // HA: another replica's new or rotated authority must reach this replica's bundle (and the
  // bundle that verifies agents' client certificates) within peerRefreshIntervalMs, far sooner
  // than the next rotation check.
  async function peerPass(): Promise<void> {
    view.setOthers(await o.journalStore.loadAll());
    if (view.update(x509.records, jwt.records, revision)) view.emit();
  }

  const saved = await o.journalStore.load(o.serverId);
  revision = saved?.revision ?? 0;
  await x509.load(saved?.x509 ?? []);
  await jwt.load(saved?.jwt ?? []);
  await rotatePass();

  const setOf = (kind: AuthorityKind) => {
    if (kind === "x509") return x509;
    if (kind === "jwt") return jwt;
    throw new TypeError(`unknown authority kind ${String(kind)}`);
  };
  const manage = <K extends AuthorityKind>(kind: K, action: (set: ReturnType<typeof setOf>) => Promise<unknown> | unknown) =>
    serial(async () => {
      const record = await changing(async () => action(setOf(kind)), () => true);
      return structuredClone(record) as AuthorityRecordOf<K>;
    });

  let cancelTimer: (() => void) | undefined;
  let cancelPeerTimer: (() => void) | undefined;
  let peersFailing = false;
  let running = false;
  function schedule(): void {
    const now = o.clock.now();
    const next = Math.min(nextRotationEvent(x509.records, now, o.publishLeadMs), nextRotationEvent(jwt.records, now, o.publishLeadMs), now + o.rotationCheckIntervalMs);
    cancelTimer = o.clock.setTimeout(() => {
      cancelTimer = undefined;
      serial(rotatePass)
        .catch((err: unknown) => logger.error({ err }, "CA rotation pass failed; retrying at the next check"))
        .finally(() => {
          if (running) schedule();
        });
    }, Math.max(0, next - now));
  }
  function schedulePeers(): void {
    cancelPeerTimer = o.clock.setTimeout(() => {
      cancelPeerTimer = undefined;
      serial(peerPass)
        .then(
          () => {
            if (peersFailing) logger.info("reading other replicas' authorities works again");
            peersFailing = false;
          },
          (err: unknown) => {
            // Logged once per outage: the datastore already counts and logs every failed call.
            if (!peersFailing) logger.warn({ err }, "reading other replicas' authorities failed; retrying every peer refresh interval");
            peersFailing = true;
          },
        )
        .finally(() => {
          if (running) schedulePeers();
        });
    }, o.peerRefreshIntervalMs);
  }

  return {
    trustDomain: o.trustDomain,
    serverId: o.serverId,
    publishLeadMs: o.publishLeadMs,
    mintX509Svid: (req): MintedX509Svid => minting.mintX509Svid(req),
    mintJwtSvid: (req): Promise<MintedJwtSvid> => minting.mintJwtSvid(req),
    bundleContents: (): OwnBundleContents => view.contents(),
    onChange: (listener) => view.onChange(listener),
    show: journal,
    prepare: (kind) => manage(kind, (set) => set.prepare(o.clock.now())),
    activate: (kind, id) => manage(kind, (set) => set.activate(id)),
    taint: (kind, id) => manage(kind, (set) => set.taint(id)),
    revoke: (kind, id) => manage(kind, (set) => set.revoke(id)),
    authorityStatus: (id) => view.status(id),
    tick: () => serial(rotatePass),
    refreshPeers: () => serial(peerPass),
    start() {
      if (running) return;
      running = true;
      schedule();
      schedulePeers();
    },
    stop() {
      running = false;
      cancelTimer?.();
      cancelTimer = undefined;
      cancelPeerTimer?.();
      cancelPeerTimer = undefined;
    },
  };
}
