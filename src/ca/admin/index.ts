export { startAdminServer, type AdminServer, type AdminServerOptions } from "./socket-server.js";
export { createAdminClient, type AdminClient, type AdminClientOptions } from "./client.js";
export { createAdminServiceImpl } from "./service.js";
export { ERROR_CODE_HEADER, toConnectError, fromConnectError } from "./errors.js";
export { PROTO_FIELD_NAMES } from "./convert.js";
export type { AdminServiceDeps, AuthorityControl, AuthorityInfo, AuthorityKind, IssuanceEvent, OwnBundle } from "./deps.js";
