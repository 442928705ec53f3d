// The data dir remembers which datastore holds its trust domain (`datastore-identity.json`:
// trust domain, datastore id, location without secrets). A server whose data dir has held a trust
// domain (that marker, or CA keys under keys/) refuses an empty or foreign datastore: a lost
// SQLite file, a 0-byte restore or a PostgreSQL URL pointing at a fresh database would otherwise
// start a NEW trust domain silently (new CA, no entries, every agent stranded). The operator says
// `--allow-new-datastore` when that is what they want (docs/commands/server.md).
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { Datastore, DatastoreIdentity } from "../datastore/index.js";

export const MARKER_FILE = "datastore-identity.json";

interface Marker {
  trust_domain: string;
  datastore_id: string;
  datastore: string;
  written_at: string;
}

export interface GuardOptions {
  dataDir: string;
  trustDomain: string;
  datastore: Pick<Datastore, "identity" | "claimIdentity" | "hasHistory" | "description">;
  allowNewDatastore: boolean;
  logger: Logger;
  now: () => number;
}

function readMarker(path: string): Marker | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw spindleError("ERR_DATASTORE_MISMATCH", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const m = JSON.parse(text) as Partial<Marker>;
    if (typeof m.trust_domain === "string" && typeof m.datastore_id === "string") return { trust_domain: m.trust_domain, datastore_id: m.datastore_id, datastore: String(m.datastore ?? "?"), written_at: String(m.written_at ?? "?") };
  } catch {
    // reported below
  }
  throw spindleError("ERR_DATASTORE_MISMATCH", `${path} is damaged (expected JSON with trust_domain and datastore_id); it records which datastore this data dir belongs to: restore it, or start with --allow-new-datastore to accept the configured datastore`);
}

function hasKeys(dataDir: string): boolean {
  const dir = join(dataDir, "keys");
  return existsSync(dir) && readdirSync(dir).length > 0;
}

/**
 * Before migrations: a datastore without any Spindle schema under a data dir that has held a
 * trust domain is refused here, so the refused datastore stays as it was (no tables written).
 */
export function guardBeforeMigrate(o: Pick<GuardOptions, "dataDir" | "allowNewDatastore"> & { description: string; empty: boolean }): void {
  if (!o.empty || o.allowNewDatastore) return;
  const marker = readMarker(join(o.dataDir, MARKER_FILE));
  if (marker === undefined && !hasKeys(o.dataDir)) return;
  throw emptyRefusal(o.dataDir, marker, o.description, false);
}

function emptyRefusal(dataDir: string, marker: Marker | undefined, where: string, history: boolean) {
  const held = marker !== undefined ? `trust domain "${marker.trust_domain}" on datastore ${marker.datastore} (id ${marker.datastore_id}, recorded ${marker.written_at})` : `CA keys in ${join(dataDir, "keys")}`;
  return spindleError(
    "ERR_DATASTORE_MISMATCH",
    `data dir ${dataDir} has held ${held}, but datastore ${where} is ${history ? "a datastore of unknown identity" : "empty"}: refusing to start a new trust domain on it; ${FLAG_HINT}`,
  );
}

const FLAG_HINT = "restore the datastore (or fix the datastore setting), or start once with --allow-new-datastore to accept it";

/** Checks the datastore against the data dir, claims a new one when allowed, and (re)writes the marker. */
export async function guardDatastore(o: GuardOptions): Promise<DatastoreIdentity> {
  const logger = o.logger.child({ component: "datastore-guard" });
  const markerPath = join(o.dataDir, MARKER_FILE);
  const marker = readMarker(markerPath);
  const keys = hasKeys(o.dataDir);
  const where = o.datastore.description;
  let identity = await o.datastore.identity();

  if (identity !== undefined && identity.trustDomain !== o.trustDomain) {
    // Never overridable: serving another trust domain's entries and authorities would be wrong whatever the operator wants.
    throw spindleError("ERR_DATASTORE_MISMATCH", `datastore ${where} holds trust domain "${identity.trustDomain}", but this server is configured for "${o.trustDomain}"`);
  }
  if (identity === undefined) {
    const history = await o.datastore.hasHistory();
    // A datastore written before identities existed: adopt it, it is not empty.
    const adoptable = history && marker === undefined;
    if (!adoptable && (marker !== undefined || keys) && !o.allowNewDatastore) throw emptyRefusal(o.dataDir, marker, where, history);
    identity = await o.datastore.claimIdentity(o.trustDomain);
    if (identity.trustDomain !== o.trustDomain) throw spindleError("ERR_DATASTORE_MISMATCH", `datastore ${where} was just claimed for trust domain "${identity.trustDomain}" by another server`);
    if (adoptable) logger.info({ datastore: where, datastoreId: identity.datastoreId }, "existing datastore had no identity yet: recorded one");
    else if (marker !== undefined || keys) logger.warn({ datastore: where, datastoreId: identity.datastoreId, previous: marker ?? null }, "--allow-new-datastore: starting a new trust domain on an empty datastore although the data dir held one");
    else logger.info({ datastore: where, datastoreId: identity.datastoreId }, "new datastore: starting a new trust domain");
  } else if (marker !== undefined && marker.datastore_id !== identity.datastoreId) {
    if (!o.allowNewDatastore) {
      throw spindleError(
        "ERR_DATASTORE_MISMATCH",
        `data dir ${o.dataDir} belongs to datastore ${marker.datastore} (id ${marker.datastore_id}), but datastore ${where} is another one (id ${identity.datastoreId}, created ${new Date(identity.createdAt).toISOString()}): refusing a foreign datastore; ${FLAG_HINT}`,
      );
    }
    logger.warn({ datastore: where, datastoreId: identity.datastoreId, previous: marker }, "--allow-new-datastore: switching this data dir to another datastore of the same trust domain");
  }

  if (marker === undefined || marker.datastore_id !== identity.datastoreId || marker.datastore !== where) {
    const next: Marker = { trust_domain: identity.trustDomain, datastore_id: identity.datastoreId, datastore: where, written_at: new Date(o.now()).toISOString() };
    const tmp = `${markerPath}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, markerPath);
  }
  return identity;
}
