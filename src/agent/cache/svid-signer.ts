// One renewal pass over the entries: decide which SVIDs are due (missing, entry revision changed,
// signing authority tainted, past the renewal time), generate a fresh key for each, send CSRs in
// batches of at most MAX_CSR_BATCH and check every answer before it is cached. The renewal time is
// half of the SVID's lifetime +-10% jitter (docs/design/wire-facts.md, "Rotation and sync
// numbers"), so a fleet of agents does not renew in lock-step and a long-lived connection never
// holds an SVID near its end.
import { X509Certificate } from "node:crypto";
import { jittered } from "../../common/backoff.js";
import { spindleError } from "../../common/errors.js";
import type { AgentEntry, CsrRequest, CsrSignResult, ServerClient } from "./server-client.js";
import { MAX_CSR_BATCH } from "./server-client.js";
import { buildCsr } from "./csr.js";
import { generateWorkloadKey, type WorkloadKey, type WorkloadKeyType } from "./workload-key.js";

/** Renewal jitter around the half-life: +-10%. */
export const RENEWAL_JITTER = 0.1;

export interface CachedSvid {
  readonly entryId: string;
  /** The entry revision the CSR was made for. */
  readonly revision: number;
  readonly spiffeId: string;
  /** Leaf first, then intermediates. */
  readonly chainDer: readonly Uint8Array[];
  /**
   * Only what is served (PKCS#8 DER) and its algorithm: the KeyObjects are dropped once the
   * certificate is accepted, which keeps each cached SVID small (bench/workload-api.bench.ts).
   */
  readonly key: Pick<WorkloadKey, "type" | "pkcs8Der">;
  /** Epoch ms, from the leaf certificate. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly authorityId: string;
  /** When this SVID is due for renewal. */
  readonly renewAt: number;
}

export type RenewalReason = "new" | "revision" | "tainted" | "half-life" | "expired";

export interface DueEntry {
  readonly entry: AgentEntry;
  readonly reason: RenewalReason;
}

/** Entries whose SVID must be (re-)issued at `now`, and why. */
export function dueEntries(
  entries: Iterable<AgentEntry>,
  svids: ReadonlyMap<string, CachedSvid>,
  tainted: ReadonlySet<string>,
  now: number,
): DueEntry[] {
  const due: DueEntry[] = [];
  for (const entry of entries) {
    const svid = svids.get(entry.id);
    let reason: RenewalReason | undefined;
    if (svid === undefined) reason = "new";
    else if (svid.revision !== entry.revision) reason = "revision";
    else if (tainted.has(svid.authorityId)) reason = "tainted";
    else if (now >= svid.notAfter) reason = "expired";
    else if (now >= svid.renewAt) reason = "half-life";
    if (reason !== undefined) due.push({ entry, reason });
  }
  return due;
}

export interface SignFailure {
  readonly entryId: string;
  readonly code: string;
  readonly message: string;
}

export interface SignDeps {
  client: ServerClient;
  keyType: WorkloadKeyType;
  now(): number;
  random(): number;
  /** Called after each batch with what it produced, so a later unreachable batch loses nothing. */
  onBatch(signed: readonly CachedSvid[], failed: readonly SignFailure[]): void;
  batchSize?: number;
}

/** What an SVID is requested for: an entry, or the agent itself (revision 0). */
export type SvidTarget = Pick<AgentEntry, "id" | "spiffeId" | "revision">;

/** Checks a server answer against the request; throws ERR_AGENT_SVID_INVALID. */
export function acceptSvid(entry: SvidTarget, key: WorkloadKey, result: Pick<Extract<CsrSignResult, { ok: true }>, "chainDer" | "authorityId">, now: number, random: () => number): CachedSvid {
  const bad = (why: string, cause?: unknown) =>
    spindleError("ERR_AGENT_SVID_INVALID", `server returned an unusable SVID for entry ${entry.id} (${entry.spiffeId}): ${why}`, { cause, details: { entryId: entry.id } });
  const leafDer = result.chainDer[0];
  if (leafDer === undefined) throw bad("empty certificate chain");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafDer);
  } catch (err) {
    throw bad("the leaf certificate does not parse", err);
  }
  const uris = (leaf.subjectAltName ?? "").split(", ").filter((n) => n.startsWith("URI:"));
  if (uris.length !== 1 || uris[0] !== `URI:${entry.spiffeId}`) throw bad(`leaf URI SANs are [${uris.join(", ")}], expected exactly the entry's SPIFFE ID`);
  if (!leaf.publicKey.export({ type: "spki", format: "der" }).equals(key.spkiDer)) throw bad("the leaf certifies a different public key than the CSR's");
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (!(notAfter > now) || !(notAfter > notBefore)) throw bad(`validity ${leaf.validFrom} .. ${leaf.validTo} is over or empty`);
  const renewAt = notBefore + jittered((notAfter - notBefore) / 2, RENEWAL_JITTER, random);
  return Object.freeze({
    entryId: entry.id,
    revision: entry.revision,
    spiffeId: entry.spiffeId,
    chainDer: Object.freeze(result.chainDer.map((d) => Buffer.from(d))),
    key: Object.freeze({ type: key.type, pkcs8Der: key.pkcs8Der }),
    notBefore,
    notAfter,
    authorityId: result.authorityId,
    renewAt,
  });
}

/**
 * Signs SVIDs for `due`, batch by batch. Per-CSR refusals and unusable answers are reported as
 * failures; a transport failure (server unreachable) rejects, after earlier batches were
 * delivered through onBatch.
 */
export async function signEntries(due: readonly DueEntry[], deps: SignDeps): Promise<void> {
  const batchSize = deps.batchSize ?? MAX_CSR_BATCH;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_CSR_BATCH) {
    throw new TypeError(`signEntries: batchSize must be 1..${MAX_CSR_BATCH}`);
  }
  for (let start = 0; start < due.length; start += batchSize) {
    const chunk = due.slice(start, start + batchSize);
    const keys = await Promise.all(chunk.map(() => generateWorkloadKey(deps.keyType)));
    const requests: CsrRequest[] = chunk.map(({ entry }, i) => ({
      entryId: entry.id,
      csrDer: buildCsr({ spiffeId: entry.spiffeId, dnsNames: entry.dnsNames }, keys[i]!),
    }));
    const results = await deps.client.signCsrs(requests);
    const byEntry = new Map(results.map((r) => [r.entryId, r]));
    const signed: CachedSvid[] = [];
    const failed: SignFailure[] = [];
    const now = deps.now();
    chunk.forEach(({ entry }, i) => {
      const result = byEntry.get(entry.id);
      if (result === undefined) {
        failed.push({ entryId: entry.id, code: "ERR_AGENT_SVID_INVALID", message: "the server's answer has no result for this CSR" });
      } else if (!result.ok) {
        failed.push({ entryId: entry.id, code: result.code, message: result.message });
      } else {
        try {
          signed.push(acceptSvid(entry, keys[i]!, result, now, deps.random));
        } catch (err) {
          failed.push({ entryId: entry.id, code: "ERR_AGENT_SVID_INVALID", message: (err as Error).message });
        }
      }
    });
    deps.onBatch(signed, failed);
  }
}
