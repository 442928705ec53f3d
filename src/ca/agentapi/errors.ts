// The one place agent API errors cross the wire: SpindleError.grpcStatus becomes the status, the
// code travels in the `spindle-error-code` trailer, a rate limit adds `retry-after` (seconds),
// and internal causes are logged, never sent.
import type { OutgoingHttpHeaders } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { SpindleError, spindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";

export const ERROR_CODE_HEADER = "spindle-error-code";
export const RETRY_AFTER_HEADER = "retry-after";

/** connect reports an undecodable request body as INTERNAL "parse binary: ..."; it is the caller's fault. */
function isDecodeError(err: ConnectError): boolean {
  return err.code === Code.Internal && /^parse binary|^protocol error|^premature end|^invalid wire type|^cannot parse/i.test(err.rawMessage);
}

export function toConnectError(err: unknown, logger: Logger, method: string): ConnectError {
  if (err instanceof ConnectError && !(err.cause instanceof SpindleError)) {
    if (isDecodeError(err)) return toConnectError(spindleError("ERR_INVALID_ARGUMENT", `request is not a valid protobuf message (${err.rawMessage})`), logger, method);
    logger.debug({ method, code: err.code, reason: err.rawMessage }, "agent API request rejected by the protocol layer");
    return err;
  }
  const e = SpindleError.from(err instanceof ConnectError ? err.cause : err);
  if (e.code === "ERR_INTERNAL" || e.code === "ERR_DATASTORE") logger.error({ method, code: e.code, err: e.cause ?? e }, "agent API request failed");
  else logger.info({ method, code: e.code, reason: e.message }, "agent API request refused");
  const message = e.code === "ERR_INTERNAL" ? "internal error (see the server log)" : e.message;
  const metadata: Record<string, string> = { [ERROR_CODE_HEADER]: e.code };
  const retry = e.details["retryAfterSeconds"];
  if (typeof retry === "number") metadata[RETRY_AFTER_HEADER] = String(retry);
  return new ConnectError(message, e.grpcStatus as number as Code, metadata);
}

export function errorMappingInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw toConnectError(err, logger, req.method.name);
    }
    if (!res.stream) return res;
    // Streaming handlers fail while their messages are consumed, after next() has returned.
    const messages = res.message;
    async function* mapped() {
      try {
        yield* messages;
      } catch (err) {
        throw toConnectError(err, logger, req.method.name);
      }
    }
    return { ...res, message: mapped() };
  };
}

/**
 * Unary request bodies are decoded before interceptors run; their failure reaches the client as
 * INTERNAL. This rewrites that trailer to INVALID_ARGUMENT with our code.
 */
export function reclassifyUndecodable(res: Http2ServerResponse): void {
  const addTrailers = res.addTrailers.bind(res);
  res.addTrailers = (headers: OutgoingHttpHeaders) => {
    const message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
    if (String(headers["grpc-status"]) === "13" && isDecodeError(new ConnectError(message, Code.Internal))) {
      headers["grpc-status"] = String(Code.InvalidArgument);
      headers["grpc-message"] = encodeURIComponent(`request is not a valid protobuf message (${message})`);
      headers[ERROR_CODE_HEADER] = "ERR_INVALID_ARGUMENT";
    }
    addTrailers(headers);
  };
}
