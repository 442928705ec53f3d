// The CA's authority journal, persisted per server replica (AuthorityJournalStore).
import type { Kysely } from "kysely";
import type { AuthorityJournal, AuthorityJournalStore } from "../contracts.js";
import type { DatabaseSchema } from "./schema.js";

export function createJournalStore(db: Kysely<DatabaseSchema>, now: () => number): AuthorityJournalStore {
  return {
    async load(serverId) {
      const r = await db.selectFrom("authority_journals").select("journal").where("server_id", "=", serverId).executeTakeFirst();
      return r ? (JSON.parse(r.journal) as AuthorityJournal) : undefined;
    },
    async save(serverId, journal) {
      const text = JSON.stringify(journal);
      const t = now();
      await db
        .insertInto("authority_journals")
        .values({ server_id: serverId, journal: text, updated_at: t })
        .onConflict((oc) => oc.column("server_id").doUpdateSet({ journal: text, updated_at: t }))
        .execute();
    },
    async loadAll() {
      const rows = await db.selectFrom("authority_journals").select("journal").orderBy("server_id").execute();
      return rows.map((r) => JSON.parse(r.journal) as AuthorityJournal);
    },
  };
}
