// One kind of authority (X.509 CAs or JWT keys) of this replica: its journal records, the signers
// for records whose keys are loaded, rotation, and the management transitions. Transitions:
//   prepared -> active -> old -> (tainted) -> revoked (removed), and anything -> removed at expiry.
// Taint is allowed only on an "old" authority (rotate first: prepare + activate), so tainting
// never leaves the replica without a signer; revoke only on a tainted one, because removing a
// healthy authority from the bundle would break every valid SVID it signed.
import type { KeyObject } from "node:crypto";
import { spindleError, type Logger } from "../../common/index.js";
import type { KeyManager } from "../contracts.js";
import { planRotation, type Lifecycle } from "./rotation.js";

export type AuthorityKind = "x509" | "jwt";

export interface AuthorityKindOps<R extends Lifecycle & { keyId: string }, S> {
  kind: AuthorityKind;
  idOf(record: R): string;
  create(now: number): Promise<{ record: R; privateKey: KeyObject }>;
  signer(record: R, privateKey: KeyObject): S;
}

export interface AuthoritySet<R, S> {
  readonly records: readonly R[];
  /** The signer of the active authority, if any. */
  active(): S | undefined;
  /** Loads keys for journal records (restart); records whose key is missing cannot sign. */
  load(records: readonly R[]): Promise<void>;
  /** Applies section 8 rotation at `now`; true when the records changed. */
  rotate(now: number): Promise<boolean>;
  prepare(now: number): Promise<R>;
  activate(id: string): R;
  taint(id: string): R;
  revoke(id: string): Promise<R>;
}

export function createAuthoritySet<R extends Lifecycle & { keyId: string }, S>(
  ops: AuthorityKindOps<R, S>,
  keyManager: KeyManager,
  logger: Logger,
  /** Publication lead before a prepared authority may be activated by rotation (ms). */
  publishLeadMs = 0,
): AuthoritySet<R, S> {
  let records: R[] = [];
  const signers = new Map<string, S>();
  const label = ops.kind === "x509" ? "X.509 authority" : "JWT authority";

  const find = (id: string): R => {
    const r = records.find((x) => ops.idOf(x) === id);
    if (r === undefined) throw spindleError("ERR_NOT_FOUND", `${label} ${id} is not one of this server's authorities`, { details: { id } });
    return r;
  };
  const requireState = (r: R, ok: boolean, action: string, wanted: string) => {
    if (!ok) {
      const state = r.tainted ? `${r.state}, tainted` : r.state;
      throw spindleError("ERR_AUTHORITY_STATE", `cannot ${action} ${label} ${ops.idOf(r)}: it is ${state}; ${action} needs ${wanted}`, {
        details: { id: ops.idOf(r), state: r.state, tainted: r.tainted },
      });
    }
  };
  const remove = async (r: R, why: string) => {
    records = records.filter((x) => x !== r);
    signers.delete(ops.idOf(r));
    logger.info({ kind: ops.kind, id: ops.idOf(r) }, `${label} removed (${why})`);
    await keyManager.deleteKey(r.keyId);
  };
  const addNew = async (now: number, state: "prepared" | "active"): Promise<R> => {
    const { record, privateKey } = await ops.create(now);
    record.state = state;
    record.preparedAt = now;
    signers.set(ops.idOf(record), ops.signer(record, privateKey));
    records = [...records, record];
    logger.info({ kind: ops.kind, id: ops.idOf(record), notAfter: new Date(record.notAfter).toISOString() }, `${label} created as ${state}`);
    return record;
  };
  const activateRecord = (r: R) => {
    for (const other of records) if (other.state === "active") other.state = "old";
    r.state = "active";
    logger.info({ kind: ops.kind, id: ops.idOf(r) }, `${label} activated`);
  };

  return {
    get records() {
      return records;
    },
    active() {
      const r = records.find((x) => x.state === "active" && !x.tainted);
      return r === undefined ? undefined : signers.get(ops.idOf(r));
    },
    async load(loaded) {
      records = loaded.map((r) => structuredClone(r));
      signers.clear();
      for (const r of records) {
        if (r.state === "old") continue;
        // A refused key file (ERR_KEY_FILE_PERMISSIONS) propagates: the server must not start on it.
        const pair = await keyManager.getKey(r.keyId);
        if (pair === undefined) logger.warn({ kind: ops.kind, id: ops.idOf(r), keyId: r.keyId }, `${label} key is missing; it will not sign`);
        else signers.set(ops.idOf(r), ops.signer(r, pair.privateKey));
      }
    },
    async rotate(now) {
      const actions = planRotation(records, now, (i) => signers.has(ops.idOf(records[i]!)), publishLeadMs);
      if (actions.length === 0) return false;
      const snapshot = [...records];
      for (const a of actions) {
        if (a.kind === "expire") await remove(snapshot[a.index]!, "expired");
        else if (a.kind === "demote") {
          const r = snapshot[a.index]!;
          logger.warn({ kind: ops.kind, id: ops.idOf(r) }, `${label} demoted to old: ${a.reason}`);
          r.state = "old";
          signers.delete(ops.idOf(r));
        } else if (a.kind === "activate") activateRecord(snapshot[a.index]!);
        else if (a.kind === "create-active") activateRecord(await addNew(now, "active"));
        else await addNew(now, "prepared");
      }
      return true;
    },
    async prepare(now) {
      // An operator-requested prepare replaces a pending one: it has signed nothing yet.
      for (const r of records.filter((x) => x.state === "prepared")) await remove(r, "replaced by a new prepared authority");
      return addNew(now, "prepared");
    },
    activate(id) {
      const r = find(id);
      requireState(r, r.state === "prepared" && !r.tainted && signers.has(id), "activate", "a prepared authority with its key loaded");
      activateRecord(r);
      return r;
    },
    taint(id) {
      const r = find(id);
      requireState(r, r.state === "old" && !r.tainted, "taint", "an old, untainted authority (prepare and activate a new one first)");
      r.tainted = true;
      logger.warn({ kind: ops.kind, id }, `${label} tainted`);
      return r;
    },
    async revoke(id) {
      const r = find(id);
      requireState(r, r.tainted, "revoke", "a tainted authority (taint it first)");
      await remove(r, "revoked");
      return r;
    },
  };
}
