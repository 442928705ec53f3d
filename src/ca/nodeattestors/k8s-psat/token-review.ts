// TokenReview (authentication.k8s.io/v1): asks the cluster's API server whether a projected
// service-account token is still valid (pod and service account still exist, token not revoked).
// POST <api_server_url>/apis/authentication.k8s.io/v1/tokenreviews over HTTPS, trusting ca_path,
// authenticated with the bearer token in token_path (read on every call: kubelet rotates it).
// Transport problems are ERR_UNAVAILABLE (the evidence was not judged); the verdict is returned.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { spindleError } from "../../../common/errors.js";
import { K8S_PSAT_PLUGIN, type TokenReviewConfig } from "./config.js";
import { readBoundedBody } from "../../../transport/http-body.js";

/** The in-cluster service-account token, used when token_path is not set. */
export const DEFAULT_TOKEN_REVIEW_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token";
export const TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews";
export const DEFAULT_TOKEN_REVIEW_TIMEOUT_MS = 5000;
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** The parts of TokenReview.status the attestor checks. */
export interface TokenReviewStatus {
  readonly authenticated: boolean;
  readonly username?: string;
  /** Audiences the API server accepted the token for (a subset of those sent). */
  readonly audiences?: readonly string[];
  readonly error?: string;
}

export interface TokenReviewer {
  /** Resolves with the API server's verdict; rejects with ERR_UNAVAILABLE when there is none. */
  review(token: string, audiences: readonly string[]): Promise<TokenReviewStatus>;
}

export interface TokenReviewerOptions {
  cluster: string;
  config: TokenReviewConfig;
  timeoutMs?: number;
  /** Reads the CA and credential files; default fs.readFileSync. */
  readFile?: (path: string) => Buffer;
}

function readOrThrow(readFile: (p: string) => Buffer, path: string, what: string, code: "ERR_CONFIG_READ" | "ERR_UNAVAILABLE", cluster: string): Buffer {
  try {
    return readFile(path);
  } catch (err) {
    throw spindleError(code, `${K8S_PSAT_PLUGIN}: cluster "${cluster}": cannot read token_review ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseStatus(body: string): TokenReviewStatus {
  const doc = JSON.parse(body) as { kind?: unknown; status?: { authenticated?: unknown; user?: { username?: unknown }; audiences?: unknown; error?: unknown } };
  if (doc.kind !== "TokenReview" || typeof doc.status !== "object" || doc.status === null) throw new Error("the response is not a TokenReview with a status");
  const s = doc.status;
  return {
    authenticated: s.authenticated === true,
    ...(typeof s.user?.username === "string" ? { username: s.user.username } : {}),
    ...(Array.isArray(s.audiences) ? { audiences: s.audiences.filter((a): a is string => typeof a === "string") } : {}),
    ...(typeof s.error === "string" && s.error !== "" ? { error: s.error } : {}),
  };
}

/** Reads ca_path at creation (ERR_CONFIG_READ at server start); token_path on every review. */
export function createTokenReviewer(options: TokenReviewerOptions): TokenReviewer {
  const readFile = options.readFile ?? ((p: string) => readFileSync(p));
  const { cluster, config } = options;
  const ca = config.caPath === undefined ? undefined : readOrThrow(readFile, config.caPath, "ca_path", "ERR_CONFIG_READ", cluster);
  const tokenPath = config.tokenPath ?? DEFAULT_TOKEN_REVIEW_TOKEN_PATH;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TOKEN_REVIEW_TIMEOUT_MS;
  const url = new URL(TOKEN_REVIEW_PATH, config.apiServerUrl.replace(/\/$/, "") + "/");
  const unavailable = (why: string, cause?: unknown) =>
    spindleError("ERR_UNAVAILABLE", `${K8S_PSAT_PLUGIN}: cluster "${cluster}": TokenReview could not be performed: ${why}`, cause === undefined ? {} : { cause });

  return {
    async review(token, audiences) {
      const credential = readOrThrow(readFile, tokenPath, "token_path", "ERR_UNAVAILABLE", cluster).toString("utf8").trim();
      const body = JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences } });
      const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          url,
          {
            method: "POST",
            ...(ca === undefined ? {} : { ca }),
            minVersion: "TLSv1.2",
            headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${credential}`, "content-length": Buffer.byteLength(body) },
            signal: AbortSignal.timeout(timeoutMs),
          },
          (res) => {
            readBoundedBody(req, res, MAX_RESPONSE_BYTES, `the response exceeds ${MAX_RESPONSE_BYTES} bytes`).then((text) => resolve({ status: res.statusCode ?? 0, text }), reject);
          },
        );
        req.on("error", reject);
        req.end(body);
      }).catch((err: unknown) => {
        const e = err as Error & { code?: string };
        const why = e.name === "AbortError" || e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : `${e.code ?? e.name}: ${e.message}`;
        throw unavailable(`the API server ${url.origin} is unreachable (${why})`, err);
      });
      if (status !== 200 && status !== 201) {
        const hint = status === 401 || status === 403 ? " (check token_review.token_path and that its service account may create tokenreviews)" : "";
        throw unavailable(`the API server ${url.origin} refused the request with HTTP ${status}${hint}: ${text.slice(0, 200)}`);
      }
      try {
        return parseStatus(text);
      } catch (err) {
        throw unavailable(`the API server ${url.origin} sent an unreadable answer: ${(err as Error).message}`, err);
      }
    },
  };
}
