// The server's own X509-SVID (spiffe://<td>/spindle/server), presented by the agent API and by the
// federation bundle endpoint (SPIFFE_Federation section 5.2.2.3: its certificate must be a valid
// X509-SVID). Re-minted with a fresh key at half its lifetime and on every CA change (a new active
// authority, a taint), retrying every 10 s after a failure; listeners hear of each new one.
import { generateKeyPairSync } from "node:crypto";
import type { Clock, Logger } from "../../common/index.js";
import { certsToPem } from "../../common/pem.js";
import type { CertificateAuthority } from "../contracts.js";

const RETRY_MS = 10_000;

export interface ServerSvid {
  /** Leaf first, then intermediates; DER. */
  chain: Buffer[];
  certPem: string;
  /** PKCS#8 PEM; never logged. */
  keyPem: string;
  notAfter: number;
}

export interface ServerSvidSource {
  readonly spiffeId: string;
  current(): ServerSvid;
  onRotate(listener: (svid: ServerSvid) => void): () => void;
  close(): void;
}

export interface ServerSvidOptions {
  ca: Pick<CertificateAuthority, "mintX509Svid" | "onChange">;
  spiffeId: string;
  dnsNames?: readonly string[];
  clock: Clock;
  logger: Logger;
}

export function createServerSvidSource(o: ServerSvidOptions): ServerSvidSource {
  const listeners = new Set<(svid: ServerSvid) => void>();
  let cancelTimer: (() => void) | undefined;
  let closed = false;

  const mint = (): ServerSvid => {
    const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const svid = o.ca.mintX509Svid({ spiffeId: o.spiffeId, publicKey: keys.publicKey, dnsNames: o.dnsNames ?? [] });
    return { chain: svid.chain, certPem: certsToPem(svid.chain), keyPem: keys.privateKey.export({ type: "pkcs8", format: "pem" }) as string, notAfter: svid.notAfter };
  };
  const schedule = (ms: number) => {
    cancelTimer?.();
    cancelTimer = o.clock.setTimeout(refresh, ms);
  };
  let current = mint();
  schedule(Math.max(1000, (current.notAfter - o.clock.now()) / 2));

  function refresh() {
    if (closed) return;
    try {
      current = mint();
    } catch (err) {
      o.logger.error({ err, spiffeId: o.spiffeId }, `server SVID renewal failed; retrying in ${RETRY_MS / 1000} s`);
      schedule(RETRY_MS);
      return;
    }
    schedule(Math.max(1000, (current.notAfter - o.clock.now()) / 2));
    o.logger.debug({ spiffeId: o.spiffeId, notAfter: new Date(current.notAfter).toISOString() }, "server SVID renewed");
    for (const l of [...listeners]) {
      try {
        l(current);
      } catch (err) {
        o.logger.error({ err }, "server SVID listener threw");
      }
    }
  }
  const unsubscribe = o.ca.onChange(() => refresh());

  return {
    spiffeId: o.spiffeId,
    current: () => current,
    onRotate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      cancelTimer?.();
      unsubscribe();
      listeners.clear();
    },
  };
}
