// Join tokens: only the sha256 of a token is stored; a token is consumed at most once.
import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import { spindleError } from "../../common/errors.js";
import type { DatabaseSchema } from "./schema.js";

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export async function insertToken(db: Kysely<DatabaseSchema>, token: string, expiresAt: number, now: number, spiffeId?: string): Promise<void> {
  await db.insertInto("join_tokens").values({ token_hash: hashToken(token), expires_at: expiresAt, created_at: now, used_at: null, spiffe_id: spiffeId ?? null }).execute();
}

/** What a consumed token carries. */
export interface ConsumedJoinToken {
  /** The node alias given at generation, if any. */
  spiffeId?: string;
}

/**
 * Marks the token used and returns what it carries; throws ERR_JOIN_TOKEN_INVALID if unknown,
 * expired or already used.
 */
export async function consumeToken(db: Kysely<DatabaseSchema>, token: string, now: number): Promise<ConsumedJoinToken> {
  const hash = hashToken(token);
  // One conditional UPDATE: two replicas racing on the same token cannot both succeed.
  const r = await db
    .updateTable("join_tokens")
    .set({ used_at: now })
    .where("token_hash", "=", hash)
    .where("used_at", "is", null)
    .where("expires_at", ">", now)
    .executeTakeFirst();
  const row = await db.selectFrom("join_tokens").selectAll().where("token_hash", "=", hash).executeTakeFirst();
  if (Number(r.numUpdatedRows) === 1) return row?.spiffe_id === null || row?.spiffe_id === undefined ? {} : { spiffeId: row.spiffe_id };
  const reason = !row ? "unknown" : row.used_at !== null ? "already used" : "expired";
  throw spindleError("ERR_JOIN_TOKEN_INVALID", `join token is ${reason}`);
}

export type JoinTokenState = "unused" | "used" | "expired";

/**
 * The state of the token whose id (the first 32 hex digits of its SHA-256, as in its agent ID)
 * is `tokenId`, or undefined when no stored token has it (never generated, or pruned).
 */
export async function tokenStateById(db: Kysely<DatabaseSchema>, tokenId: string, now: number): Promise<JoinTokenState | undefined> {
  if (!/^[0-9a-f]{32}$/.test(tokenId)) return undefined;
  const row = await db.selectFrom("join_tokens").select(["used_at", "expires_at"]).where("token_hash", "like", `${tokenId}%`).executeTakeFirst();
  if (!row) return undefined;
  if (row.used_at !== null) return "used";
  return Number(row.expires_at) > now ? "unused" : "expired";
}

/**
 * Deletes unused tokens that expired before `now`; returns how many. Used tokens are kept (one
 * small row per node that ever attested with a token), so a replay is reported as "already used"
 * rather than "unknown" however late it comes, and the token's agent ID stays a known parent.
 */
export async function pruneTokens(db: Kysely<DatabaseSchema>, now: number): Promise<number> {
  const r = await db.deleteFrom("join_tokens").where("expires_at", "<=", now).where("used_at", "is", null).executeTakeFirst();
  return Number(r.numDeletedRows);
}
