// The one place a SpindleError becomes a wire status, for grpc-js (the agent socket) and connect
// (the server's agent and admin APIs). Clients get the registry code's gRPC status, the code
// itself in the `spindle-error-code` metadata, and a message written for them; an unexpected
// failure's text (ERR_INTERNAL) or a datastore's (ERR_DATASTORE, which can name hosts and SQL)
// stays in the log. docs/errors.md lists the codes.
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError } from "@connectrpc/connect";
import { SpindleError, spindleError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

/** Metadata key (header or trailer) carrying the SpindleError code of a failed call. */
export const ERROR_CODE_KEY = "spindle-error-code";
/** Seconds a RESOURCE_EXHAUSTED caller should wait (details.retryAfterSeconds). */
export const RETRY_AFTER_KEY = "retry-after";

/** Who answered, for the message that points at the log. */
export type WireSide = "server" | "agent";

/** What a client is told for `err`: its message, unless the message is not written for clients. */
export function clientMessage(err: SpindleError, side: WireSide): string {
  if (err.code === "ERR_INTERNAL") return `internal error (see the ${side} log)`;
  if (err.code === "ERR_DATASTORE") return `the datastore is unavailable; retry (see the ${side} log)`;
  return err.message;
}

/** True for codes whose cause is a fault on our side (logged at error with the cause). */
export function isInternal(err: SpindleError): boolean {
  return err.code === "ERR_INTERNAL" || err.code === "ERR_DATASTORE";
}

/** Logs why a call failed: internal faults at error with the cause, refusals at `refusedLevel`. */
export function logFailure(logger: Logger, err: SpindleError, fields: Record<string, unknown>, refusedLevel: "debug" | "info" | "warn" = "info"): void {
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  if (isInternal(err)) logger.error({ ...fields, code: err.code, err: err.cause ?? err }, "call failed");
  else logger[refusedLevel]({ ...fields, code: err.code, reason: err.message, cause }, "call refused");
}

/** A grpc-js status error for `err`: status, safe message, code in the trailers. */
export function toGrpcStatus(err: SpindleError, side: WireSide = "agent"): grpc.ServerErrorResponse {
  const details = clientMessage(err, side);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_KEY, err.code);
  return Object.assign(new Error(details), { code: err.grpcStatus, details, metadata });
}

/**
 * A ConnectError for anything thrown: status, safe message, code (and retry-after) in the
 * metadata. connect's own refusals of a request before any handler ran (unsupported content type,
 * oversized message) pass unchanged; an undecodable body, which connect reports as INTERNAL
 * "parse binary: ...", is the caller's fault: INVALID_ARGUMENT, without the decoder's text.
 */
export function toConnectError(err: unknown, side: WireSide = "server"): ConnectError {
  if (err instanceof ConnectError && !(err.cause instanceof SpindleError) && !isConnectDecodeError(err)) return err;
  const e = spindleErrorOf(err);
  const metadata: Record<string, string> = { [ERROR_CODE_KEY]: e.code };
  const retry = e.details["retryAfterSeconds"];
  if (typeof retry === "number") metadata[RETRY_AFTER_KEY] = String(retry);
  return new ConnectError(clientMessage(e, side), e.grpcStatus as number as Code, metadata);
}

/** Normalises a failure to a SpindleError (see toConnectError for connect's own errors). */
export function spindleErrorOf(err: unknown): SpindleError {
  if (err instanceof ConnectError) {
    if (err.cause instanceof SpindleError) return err.cause;
    if (isConnectDecodeError(err)) return spindleError("ERR_INVALID_ARGUMENT", UNDECODABLE_MESSAGE, { cause: err });
  }
  return SpindleError.from(err);
}

export const UNDECODABLE_MESSAGE = "the request is not a valid protobuf message of the method's request type";

/** connect's wording for a request body that does not decode (protocol/serialization). */
export function isConnectDecodeError(err: ConnectError): boolean {
  return err.code === Code.Internal && /^(parse binary|parse json|protocol error|premature end|invalid wire type|cannot parse)/i.test(err.rawMessage);
}
