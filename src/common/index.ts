export * from "./errors.js";
export * from "./clock.js";
export * from "./backoff.js";
export * from "./pem.js";
export * from "./logger.js";
export * from "./peer-cred.js";
export * from "./grpc-service.js";
export * from "./grpc-socket-server.js";
