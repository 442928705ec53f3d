// Attested agents (the agent API's AgentStore): one row per agent SPIFFE ID with its attestor,
// node selectors, current and previous SVID serial, expiry and ban flag. A renewal is one
// conditional UPDATE on the expected serial, so two replicas cannot both accept the same renewal.
import type { Kysely } from "kysely";
import { spindleError } from "../../common/errors.js";
import type { AttestedAgent } from "../agentapi/stores.js";
import type { DatabaseSchema } from "./schema.js";

type Db = Kysely<DatabaseSchema>;
type Row = DatabaseSchema["attested_agents"];

function toAgent(r: Row): AttestedAgent {
  return Object.freeze({
    spiffeId: r.spiffe_id,
    attestor: r.attestor,
    selectors: Object.freeze(JSON.parse(r.selectors) as AttestedAgent["selectors"]),
    serial: r.serial,
    previousSerial: r.previous_serial,
    expiresAt: Number(r.expires_at),
    canReattest: r.can_reattest === 1,
    banned: r.banned === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  });
}

export async function fetchAgent(db: Db, spiffeId: string): Promise<AttestedAgent | undefined> {
  const r = await db.selectFrom("attested_agents").selectAll().where("spiffe_id", "=", spiffeId).executeTakeFirst();
  return r === undefined ? undefined : toAgent(r);
}

async function mustFetch(db: Db, spiffeId: string): Promise<AttestedAgent> {
  const a = await fetchAgent(db, spiffeId);
  if (a === undefined) throw spindleError("ERR_NOT_FOUND", `no attested agent ${spiffeId}`, { details: { spiffeId } });
  return a;
}

export async function upsertAttestation(
  db: Db,
  a: Omit<AttestedAgent, "previousSerial" | "banned" | "createdAt" | "updatedAt">,
  now: number,
): Promise<AttestedAgent> {
  const values = {
    attestor: a.attestor,
    selectors: JSON.stringify(a.selectors.map((s) => ({ type: s.type, value: s.value }))),
    serial: a.serial,
    previous_serial: "",
    expires_at: a.expiresAt,
    can_reattest: a.canReattest ? 1 : 0,
    updated_at: now,
  };
  // `banned` and `created_at` survive re-attestation: the conflict update leaves them alone.
  await db
    .insertInto("attested_agents")
    .values({ spiffe_id: a.spiffeId, ...values, banned: 0, created_at: now })
    .onConflict((oc) => oc.column("spiffe_id").doUpdateSet(values))
    .execute();
  return mustFetch(db, a.spiffeId);
}

export async function updateRenewal(db: Db, spiffeId: string, expectedSerial: string, serial: string, expiresAt: number, now: number): Promise<AttestedAgent> {
  const r = await db
    .updateTable("attested_agents")
    .set({ previous_serial: expectedSerial, serial, expires_at: expiresAt, updated_at: now })
    .where("spiffe_id", "=", spiffeId)
    .where("serial", "=", expectedSerial)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw spindleError("ERR_AGENT_NOT_ATTESTED", `agent ${spiffeId} was evicted or renewed concurrently; attest again`);
  return mustFetch(db, spiffeId);
}

export async function updateBanned(db: Db, spiffeId: string, banned: boolean, now: number): Promise<AttestedAgent> {
  const r = await db.updateTable("attested_agents").set({ banned: banned ? 1 : 0, updated_at: now }).where("spiffe_id", "=", spiffeId).executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw spindleError("ERR_NOT_FOUND", `no attested agent ${spiffeId}`, { details: { spiffeId } });
  return mustFetch(db, spiffeId);
}

export async function removeAgent(db: Db, spiffeId: string): Promise<void> {
  // One statement: a ban set by another admin or replica between a read and the delete is kept.
  const r = await db.deleteFrom("attested_agents").where("spiffe_id", "=", spiffeId).where("banned", "=", 0).executeTakeFirst();
  if (Number(r.numDeletedRows) === 1) return;
  const still = await db.selectFrom("attested_agents").select("banned").where("spiffe_id", "=", spiffeId).executeTakeFirst();
  if (still !== undefined) throw spindleError("ERR_AGENT_EVICT_BANNED", `agent ${spiffeId} is banned; evicting it would delete the ban and let it attest again (unban it first)`, { details: { spiffeId } });
  throw spindleError("ERR_NOT_FOUND", `no attested agent ${spiffeId}`, { details: { spiffeId } });
}

export async function listAllAgents(db: Db): Promise<AttestedAgent[]> {
  const rows = await db.selectFrom("attested_agents").selectAll().orderBy("spiffe_id").execute();
  return rows.map(toAgent);
}
