export * from "./errors.js";
export * from "./clock.js";
export * from "./backoff.js";
export * from "./pem.js";
export * from "./logger.js";
