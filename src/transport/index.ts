// The sockets and wire plumbing: the agent socket (grpc-js over Unix sockets with peer
// credentials), the admin and agent API handlers (Connect), the HTTPS listener of the bundle
// endpoint and OIDC discovery, and the one mapping of SpindleError to wire statuses.
export * from "./peer-cred.js";
export * from "./grpc-service.js";
export * from "./grpc-socket-server.js";
export * from "./tls-files.js";
export * from "./https-listener.js";
