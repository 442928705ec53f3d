// A certificate chain and private key read from PEM files (https_web bundle endpoint), checked for
// changes every interval and re-read when either file's identity, size or mtime moved. A pair that
// does not load (half-written, or the key of another certificate while the two files are replaced
// one after the other) is logged once and retried at the next check; the last good pair stays.
import { readFileSync, statSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { Clock, Logger } from "../../common/index.js";

export interface CertPair {
  cert: string;
  key: string;
}

export interface CertFileWatcher {
  current(): CertPair;
  onChange(listener: (pair: CertPair) => void): void;
  close(): void;
}

export interface CertFileWatcherOptions {
  certFile: string;
  keyFile: string;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
}

function signature(path: string): string {
  const s = statSync(path);
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
}

/** Reads and checks the pair; throws with the file and reason when it does not load. */
function load(certFile: string, keyFile: string): { pair: CertPair; sig: string } {
  const sig = `${signature(certFile)}|${signature(keyFile)}`;
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, "utf8");
  } catch (err) {
    throw new Error(`cannot read cert_file ${certFile}: ${(err as Error).message}`, { cause: err });
  }
  try {
    key = readFileSync(keyFile, "utf8");
  } catch (err) {
    throw new Error(`cannot read key_file ${keyFile}: ${(err as Error).message}`, { cause: err });
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`cert_file ${certFile} and key_file ${keyFile} do not form a usable certificate and key: ${(err as Error).message}`, { cause: err });
  }
  return { pair: { cert, key }, sig };
}

/** Loads the pair now (throwing when it does not load) and watches it. */
export function createCertFileWatcher(o: CertFileWatcherOptions): CertFileWatcher {
  const first = load(o.certFile, o.keyFile);
  let current = first.pair;
  let loadedSig = first.sig;
  let failedSig: string | undefined;
  let listener: ((pair: CertPair) => void) | undefined;
  let cancel: (() => void) | undefined;
  let closed = false;

  const check = () => {
    let sig: string;
    try {
      sig = `${signature(o.certFile)}|${signature(o.keyFile)}`;
    } catch (err) {
      sig = `missing:${(err as Error).message}`;
    }
    if (sig !== loadedSig) {
      try {
        const next = load(o.certFile, o.keyFile);
        current = next.pair;
        loadedSig = next.sig;
        failedSig = undefined;
        listener?.(current);
      } catch (err) {
        if (sig !== failedSig) o.logger.warn({ err: (err as Error).message }, "bundle endpoint certificate files changed but do not load; serving the previous pair");
        failedSig = sig;
      }
    }
    if (!closed) cancel = o.clock.setTimeout(check, o.intervalMs);
  };
  cancel = o.clock.setTimeout(check, o.intervalMs);

  return {
    current: () => current,
    onChange(l) {
      listener = l;
    },
    close() {
      closed = true;
      cancel?.();
    },
  };
}
