// What the agent keeps in its data directory across restarts: its own SVID and key (so a restart
// does not need new attestation evidence, e.g. a fresh single-use join token) and the last trust
// bundle it got from the server (so later starts verify the server without --trust-bundle).
// The directory is 0700 and the key file 0600. Workload keys are never written anywhere.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SpindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { certsToPem, pemToDers } from "../../common/pem.js";
import type { WorkloadKey, WorkloadKeyType } from "../cache/workload-key.js";
import { agentSvidOf, type AgentSvid } from "../sync/agent-svid.js";

const SVID_FILE = "agent-svid.pem";
const KEY_FILE = "agent-svid-key.pem";
const AUTHORITY_FILE = "agent-svid-authority";
const BUNDLE_FILE = "bundle.pem";

export interface AgentStateStore {
  readonly dir: string;
  /** The saved agent SVID when it is still valid and belongs to `trustDomain`. */
  loadSvid(trustDomain: string, now: number): AgentSvid | undefined;
  saveSvid(svid: AgentSvid): void;
  loadBundle(): Buffer[] | undefined;
  saveBundle(x509AuthoritiesDer: readonly Uint8Array[]): void;
}

export function createAgentStateStore(options: { dir: string; logger: Logger }): AgentStateStore {
  const { dir } = options;
  const logger = options.logger.child({ component: "agent-state" });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    // Holds the agent's private key: tighten rather than refuse (the directory is ours).
    chmodSync(dir, 0o700);
    logger.warn({ dir, mode: mode.toString(8) }, "data directory was accessible to other users; changed to 0700");
  }
  const path = (f: string) => join(dir, f);
  const writeAtomic = (file: string, text: string, fileMode: number) => {
    const tmp = `${path(file)}.tmp`;
    writeFileSync(tmp, text, { mode: fileMode });
    renameSync(tmp, path(file));
  };
  const readOptional = (file: string): string | undefined => {
    try {
      return readFileSync(path(file), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  };

  return {
    dir,
    loadSvid(trustDomain, now) {
      const chainPem = readOptional(SVID_FILE);
      const keyPem = readOptional(KEY_FILE);
      if (chainPem === undefined || keyPem === undefined) return undefined;
      try {
        const chain = pemToDers(chainPem, "CERTIFICATE");
        const leaf = new X509Certificate(chain[0]!);
        const uri = (leaf.subjectAltName ?? "").split(", ").find((n) => n.startsWith("URI:"))?.slice(4) ?? "";
        if (!uri.startsWith(`spiffe://${trustDomain}/`)) {
          logger.warn({ spiffeId: uri, trustDomain }, "saved agent SVID is for another trust domain; attesting again");
          return undefined;
        }
        // The signing authority's id lets a taint reported by the sync renew this SVID at once.
        const authorityId = (readOptional(AUTHORITY_FILE) ?? "").trim();
        const svid = agentSvidOf(uri, chain, workloadKeyOf(createPrivateKey(keyPem)), authorityId, now);
        logger.info({ spiffeId: svid.spiffeId, notAfter: new Date(svid.notAfter).toISOString() }, "using the saved agent SVID");
        return svid;
      } catch (err) {
        const why = err instanceof SpindleError ? err.message : (err as Error).message;
        logger.info({ reason: why }, "saved agent SVID is unusable (expired or damaged); attesting again");
        return undefined;
      }
    },
    saveSvid(svid) {
      writeAtomic(KEY_FILE, svid.key.privateKey.export({ type: "pkcs8", format: "pem" }) as string, 0o600);
      writeAtomic(SVID_FILE, certsToPem(svid.chainDer), 0o644);
      writeAtomic(AUTHORITY_FILE, `${svid.authorityId}\n`, 0o644);
    },
    loadBundle() {
      const pem = readOptional(BUNDLE_FILE);
      if (pem === undefined) return undefined;
      const ders = pemToDers(pem, "CERTIFICATE");
      return ders.length > 0 ? ders : undefined;
    },
    saveBundle(ders) {
      writeAtomic(BUNDLE_FILE, certsToPem(ders), 0o644);
    },
  };
}

function workloadKeyOf(privateKey: KeyObject): WorkloadKey {
  const publicKey = createPublicKey(privateKey);
  const details = privateKey.asymmetricKeyDetails ?? {};
  let type: WorkloadKeyType;
  if (privateKey.asymmetricKeyType === "ec" && details.namedCurve === "prime256v1") type = "ec-p256";
  else if (privateKey.asymmetricKeyType === "ec" && details.namedCurve === "secp384r1") type = "ec-p384";
  else if (privateKey.asymmetricKeyType === "rsa") type = "rsa-2048";
  else throw new Error(`unsupported saved key type ${privateKey.asymmetricKeyType ?? "?"}`);
  return Object.freeze({
    type,
    privateKey,
    publicKey,
    pkcs8Der: privateKey.export({ type: "pkcs8", format: "der" }),
    spkiDer: publicKey.export({ type: "spki", format: "der" }),
  });
}
