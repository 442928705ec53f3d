// One error class with a closed set of codes. Each code has a stable name (asserted by tests),
// the gRPC status it maps to (the ONLY place that mapping lives) and a line in docs/errors.md
// (a test keeps the two in sync). Codes are never reused or renamed.

/** gRPC status codes used by Spindle (numeric values from the gRPC spec). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const S = GrpcStatus;

/** Every error code Spindle can produce, with its gRPC status. Append only. */
export const ERROR_CODES = {
  // SPIFFE IDs and trust domains (SPIFFE-ID standard, section 2)
  ERR_SPIFFE_ID_EMPTY: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_SCHEME: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_TRUST_DOMAIN_EMPTY: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_TRUST_DOMAIN_CHAR: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_PATH_CHAR: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_TRAILING_SLASH: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_EMPTY_SEGMENT: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_DOT_SEGMENT: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_PERCENT_ENCODED: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_QUERY_OR_FRAGMENT: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_TOO_LONG: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_NOT_WORKLOAD: S.INVALID_ARGUMENT,
  ERR_SPIFFE_ID_WRONG_TRUST_DOMAIN: S.INVALID_ARGUMENT,
  ERR_TRUST_DOMAIN_INVALID: S.INVALID_ARGUMENT,
  // X.509-SVID validation (section 2)
  ERR_X509_SVID_INVALID: S.INVALID_ARGUMENT,
  ERR_X509_SVID_NO_BUNDLE: S.INVALID_ARGUMENT,
  ERR_X509_SVID_CHAIN: S.INVALID_ARGUMENT,
  ERR_X509_SVID_EXPIRED: S.INVALID_ARGUMENT,
  ERR_X509_SVID_NOT_YET_VALID: S.INVALID_ARGUMENT,
  ERR_X509_SVID_LEAF_RULE: S.INVALID_ARGUMENT,
  // JWT-SVID validation (section 3)
  ERR_JWT_MALFORMED: S.INVALID_ARGUMENT,
  ERR_JWT_ALG: S.INVALID_ARGUMENT,
  ERR_JWT_TYP: S.INVALID_ARGUMENT,
  ERR_JWT_KID_MISSING: S.INVALID_ARGUMENT,
  ERR_JWT_KID_UNKNOWN: S.INVALID_ARGUMENT,
  ERR_JWT_SIGNATURE: S.INVALID_ARGUMENT,
  ERR_JWT_CLAIM_MISSING: S.INVALID_ARGUMENT,
  ERR_JWT_EXPIRED: S.INVALID_ARGUMENT,
  ERR_JWT_AUDIENCE: S.INVALID_ARGUMENT,
  ERR_JWT_NO_BUNDLE: S.INVALID_ARGUMENT,
  ERR_JWT_NOT_YET_VALID: S.INVALID_ARGUMENT,
  // SPIFFE bundles (section 4)
  ERR_BUNDLE_INVALID: S.INVALID_ARGUMENT,
  // Selectors
  ERR_SELECTOR_INVALID: S.INVALID_ARGUMENT,
  // Encoding helpers
  ERR_PEM_INVALID: S.INVALID_ARGUMENT,
  // Configuration and CLI input
  ERR_CONFIG_INVALID: S.INVALID_ARGUMENT,
  ERR_CONFIG_READ: S.FAILED_PRECONDITION,
  ERR_INVALID_ARGUMENT: S.INVALID_ARGUMENT,
  // Envoy configuration validation
  ERR_ENVOY_CONFIG_INVALID: S.INVALID_ARGUMENT,
  // Server: datastore, registration, join tokens, admin API
  ERR_ENTRY_INVALID: S.INVALID_ARGUMENT,
  ERR_DATASTORE: S.UNAVAILABLE,
  ERR_DATASTORE_CORRUPT: S.FAILED_PRECONDITION,
  ERR_DATASTORE_MISMATCH: S.FAILED_PRECONDITION,
  ERR_JOIN_TOKEN_INVALID: S.PERMISSION_DENIED,
  ERR_BUNDLE_IN_USE: S.FAILED_PRECONDITION,
  ERR_SERVER_START: S.FAILED_PRECONDITION,
  ERR_ADMIN_UNREACHABLE: S.UNAVAILABLE,
  // Agent socket, Envoy SDS / ECDS (docs/sds.md)
  ERR_PEER_CREDENTIALS: S.UNAUTHENTICATED,
  ERR_SOCKET_LISTEN: S.FAILED_PRECONDITION,
  ERR_SOCKET_DIR_UNSAFE: S.FAILED_PRECONDITION,
  ERR_XDS_TYPE_URL: S.INVALID_ARGUMENT,
  ERR_XDS_RESOURCE_NOT_FOUND: S.NOT_FOUND,
  ERR_XDS_RESOURCE_DENIED: S.PERMISSION_DENIED,
  // CA: key managers, CSRs, authorities (docs/errors.md)
  ERR_KEY_UNSUPPORTED: S.INVALID_ARGUMENT,
  ERR_KEY_FILE_PERMISSIONS: S.FAILED_PRECONDITION,
  ERR_KEY_FILE_INVALID: S.FAILED_PRECONDITION,
  ERR_CSR_INVALID: S.INVALID_ARGUMENT,
  ERR_CSR_SIGNATURE: S.INVALID_ARGUMENT,
  ERR_AUTHORITY_STATE: S.FAILED_PRECONDITION,
  ERR_AUTHORITY_UNAVAILABLE: S.UNAVAILABLE,
  // Authorization policies (spindle authz)
  ERR_AUTHZ_POLICY_INVALID: S.INVALID_ARGUMENT,
  ERR_AUTHZ_CASES_INVALID: S.INVALID_ARGUMENT,
  ERR_AUTHZ_SERVICE_UNKNOWN: S.NOT_FOUND,
  // Workload API, workload attestation and the `spindle api` client (Workload API standard)
  ERR_WORKLOAD_API_METADATA: S.INVALID_ARGUMENT,
  ERR_WORKLOAD_API_NOT_READY: S.UNAVAILABLE,
  ERR_WORKLOAD_NO_IDENTITY: S.PERMISSION_DENIED,
  ERR_WORKLOAD_SVID_PENDING: S.UNAVAILABLE,
  ERR_WORKLOAD_ATTESTATION: S.UNAUTHENTICATED,
  ERR_WORKLOAD_ATTESTOR_UNAVAILABLE: S.UNAVAILABLE,
  ERR_WORKLOAD_API_ENDPOINT: S.INVALID_ARGUMENT,
  ERR_WORKLOAD_API_CALL: S.UNAVAILABLE,
  // Node agent: entry sync, SVID cache and rotation, agent SVID (docs/agent-internals.md)
  ERR_AGENT_SERVER_UNREACHABLE: S.UNAVAILABLE,
  ERR_AGENT_SVID_INVALID: S.INTERNAL,
  ERR_AGENT_SVID_EXPIRED: S.UNAVAILABLE,
  ERR_AGENT_START: S.FAILED_PRECONDITION,
  ERR_AGENT_ADMIN_UNREACHABLE: S.UNAVAILABLE,
  // Node attestation and the agent API (docs/node-attestation.md)
  ERR_NODE_ATTESTOR_UNKNOWN: S.INVALID_ARGUMENT,
  ERR_NODE_ATTESTATION_PROTOCOL: S.INVALID_ARGUMENT,
  ERR_NODE_ATTESTATION_FAILED: S.PERMISSION_DENIED,
  ERR_AGENT_CLIENT_CERT_INVALID: S.UNAUTHENTICATED,
  ERR_AGENT_NOT_ATTESTED: S.PERMISSION_DENIED,
  ERR_AGENT_BANNED: S.PERMISSION_DENIED,
  ERR_ENTRY_NOT_AUTHORIZED: S.PERMISSION_DENIED,
  ERR_AGENT_EVICT_BANNED: S.FAILED_PRECONDITION,
  // Federation relationships and the bundle refresher (docs/federation.md)
  ERR_FEDERATION_RELATIONSHIP_INVALID: S.INVALID_ARGUMENT,
  ERR_FEDERATION_FROM_CONFIG: S.FAILED_PRECONDITION,
  ERR_FEDERATION_REFRESH_FAILED: S.UNAVAILABLE,
  // Generic
  ERR_NOT_FOUND: S.NOT_FOUND,
  ERR_ALREADY_EXISTS: S.ALREADY_EXISTS,
  ERR_PERMISSION_DENIED: S.PERMISSION_DENIED,
  ERR_UNAUTHENTICATED: S.UNAUTHENTICATED,
  ERR_UNAVAILABLE: S.UNAVAILABLE,
  ERR_RESOURCE_EXHAUSTED: S.RESOURCE_EXHAUSTED,
  ERR_UNIMPLEMENTED: S.UNIMPLEMENTED,
  ERR_INTERNAL: S.INTERNAL,
} as const satisfies Record<string, GrpcStatusCode>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

export interface SpindleErrorOptions {
  /** The underlying error; logged, never sent to clients. */
  cause?: unknown;
  /** Structured, non-secret context (field path, offending value, ...). */
  details?: Record<string, unknown>;
}

export class SpindleError extends Error {
  override readonly name = "SpindleError";
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: SpindleErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  /** The gRPC status this error is reported with. */
  get grpcStatus(): GrpcStatusCode {
    return ERROR_CODES[this.code];
  }

  /** Normalises anything thrown into a SpindleError; unknown errors become ERR_INTERNAL. */
  static from(err: unknown): SpindleError {
    if (err instanceof SpindleError) return err;
    if (err instanceof Error) return new SpindleError("ERR_INTERNAL", err.message, { cause: err });
    return new SpindleError("ERR_INTERNAL", String(err), { cause: err });
  }

  /** True when `err` is a SpindleError with the given code. */
  static is(err: unknown, code: ErrorCode): err is SpindleError {
    return err instanceof SpindleError && err.code === code;
  }
}

/** Shorthand for `new SpindleError(...)`, for use in expressions. */
export function spindleError(code: ErrorCode, message: string, options?: SpindleErrorOptions): SpindleError {
  return new SpindleError(code, message, options);
}
