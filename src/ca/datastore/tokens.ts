// Join tokens: only the sha256 of a token is stored; a token is consumed at most once.
import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import { spindleError } from "../../common/errors.js";
import type { DatabaseSchema } from "./schema.js";

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export async function insertToken(db: Kysely<DatabaseSchema>, token: string, expiresAt: number, now: number): Promise<void> {
  await db.insertInto("join_tokens").values({ token_hash: hashToken(token), expires_at: expiresAt, created_at: now, used_at: null }).execute();
}

/** Marks the token used; throws ERR_JOIN_TOKEN_INVALID if unknown, expired or already used. */
export async function consumeToken(db: Kysely<DatabaseSchema>, token: string, now: number): Promise<void> {
  const hash = hashToken(token);
  // One conditional UPDATE: two replicas racing on the same token cannot both succeed.
  const r = await db
    .updateTable("join_tokens")
    .set({ used_at: now })
    .where("token_hash", "=", hash)
    .where("used_at", "is", null)
    .where("expires_at", ">", now)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 1) return;
  const row = await db.selectFrom("join_tokens").selectAll().where("token_hash", "=", hash).executeTakeFirst();
  const reason = !row ? "unknown" : row.used_at !== null ? "already used" : "expired";
  throw spindleError("ERR_JOIN_TOKEN_INVALID", `join token is ${reason}`);
}

/** Deletes tokens that expired before `now`; returns how many. */
export async function pruneTokens(db: Kysely<DatabaseSchema>, now: number): Promise<number> {
  const r = await db.deleteFrom("join_tokens").where("expires_at", "<=", now).executeTakeFirst();
  return Number(r.numDeletedRows);
}
