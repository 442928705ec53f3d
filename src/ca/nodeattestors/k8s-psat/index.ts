export { K8S_PSAT_PLUGIN, DEFAULT_PSAT_AUDIENCE, parseK8sPsatServerConfig } from "./config.js";
export type { K8sPsatServerConfig, K8sPsatClusterConfig, TokenReviewConfig } from "./config.js";
export { createK8sPsatAttestor } from "./k8s-psat.js";
export type { K8sPsatAttestorOptions } from "./k8s-psat.js";
export { readJwksFile, type FetchFn } from "./key-source.js";
export { createTokenReviewer, DEFAULT_TOKEN_REVIEW_TOKEN_PATH, DEFAULT_TOKEN_REVIEW_TIMEOUT_MS, TOKEN_REVIEW_PATH } from "./token-review.js";
export type { TokenReviewer, TokenReviewerOptions, TokenReviewStatus } from "./token-review.js";
