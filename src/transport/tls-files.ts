// A TLS server identity read from a PEM certificate (chain) file and a PEM key file, re-read when
// either file changes, so an operator (or cert-manager) can replace them without a restart.
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import type { Clock } from "../common/clock.js";
import { spindleError, type ErrorCode } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/**
 * TLS 1.2 and 1.3 with ECDHE and AEAD ciphers only (Mozilla's "intermediate" profile; TLS 1.3
 * suites are Node's defaults, all AEAD).
 */
export const INTERMEDIATE_TLS: Readonly<SecureContextOptions> = Object.freeze({
  minVersion: "TLSv1.2",
  ciphers: [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
  ].join(":"),
  honorCipherOrder: false,
});

export interface LoadedTls {
  cert: Buffer;
  key: Buffer;
  /** sha256 over both files: a changed digest means a new pair to install. */
  digest: string;
  /** The leaf's notAfter (for logs). */
  notAfter: string;
}

/** Reads and checks the pair: both parse, and the key belongs to the first certificate. */
export function loadTlsFiles(files: TlsFiles, errorCode: ErrorCode): LoadedTls {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(files.certFile);
    key = readFileSync(files.keyFile);
  } catch (err) {
    throw spindleError(errorCode, `cannot read TLS files (cert_file ${files.certFile}, key_file ${files.keyFile}): ${(err as Error).message}`, { cause: err });
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw spindleError(errorCode, `cert_file ${files.certFile} holds no PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) {
      throw spindleError(errorCode, `key_file ${files.keyFile} is not the private key of the first certificate in ${files.certFile}`);
    }
  } catch (err) {
    if (err instanceof Error && "code" in err && err.code === errorCode) throw err;
    throw spindleError(errorCode, `key_file ${files.keyFile} holds no usable PEM private key: ${(err as Error).message}`, { cause: err });
  }
  const digest = createHash("sha256").update(cert).update("\0").update(key).digest("hex");
  return { cert, key, digest, notAfter: new Date(leaf.validTo).toISOString() };
}

export interface TlsReloaderOptions {
  files: TlsFiles;
  /** Called with each new valid pair (the first one too). */
  install(pair: LoadedTls): void;
  /** How often the files are checked. */
  intervalMs: number;
  clock: Clock;
  logger: Logger;
  errorCode: ErrorCode;
}

export interface TlsReloader {
  /** Checks the files now; true when a new pair was installed. A bad new pair keeps the old one. */
  check(): boolean;
  stop(): void;
}

/**
 * Loads the pair (a bad pair at start throws), then checks it every `intervalMs`. A replaced pair
 * that does not load (half-written, key and certificate mismatched) is logged and the current one
 * stays in use, so a botched rotation never takes the listener down.
 */
export function startTlsReloader(o: TlsReloaderOptions): TlsReloader {
  let current = loadTlsFiles(o.files, o.errorCode);
  o.install(current);
  o.logger.info({ certFile: o.files.certFile, notAfter: current.notAfter }, "TLS certificate loaded");
  let failing = "";
  let cancel: (() => void) | undefined;
  let running = true;

  const check = (): boolean => {
    let next: LoadedTls;
    try {
      next = loadTlsFiles(o.files, o.errorCode);
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== failing) o.logger.error({ err }, "TLS files changed but cannot be used; still serving the previous certificate");
      failing = msg;
      return false;
    }
    failing = "";
    if (next.digest === current.digest) return false;
    current = next;
    o.install(next);
    o.logger.info({ certFile: o.files.certFile, notAfter: next.notAfter }, "TLS certificate reloaded");
    return true;
  };
  const schedule = () => {
    cancel = o.clock.setTimeout(() => {
      check();
      if (running) schedule();
    }, o.intervalMs);
  };
  schedule();
  return {
    check,
    stop() {
      running = false;
      cancel?.();
    },
  };
}
