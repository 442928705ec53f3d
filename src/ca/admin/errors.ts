// The one place admin API errors cross the wire: SpindleError.grpcStatus becomes the status, the
// code travels in the `spindle-error-code` header, and internal causes are logged, never sent.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { isErrorCode, SpindleError, spindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";

export const ERROR_CODE_HEADER = "spindle-error-code";

export function toConnectError(err: unknown, logger: Logger, method: string): ConnectError {
  if (err instanceof ConnectError) {
    // Raised by connect itself (undecodable request, unknown method): already a client problem.
    logger.debug({ method, code: err.code, err: err.rawMessage }, "admin request rejected by the protocol layer");
    return err;
  }
  const e = SpindleError.from(err);
  if (e.code === "ERR_INTERNAL" || e.code === "ERR_DATASTORE") {
    logger.error({ method, code: e.code, err: e.cause ?? e }, "admin request failed");
  } else {
    logger.info({ method, code: e.code, reason: e.message }, "admin request refused");
  }
  const message = e.code === "ERR_INTERNAL" ? "internal error (see the server log)" : e.message;
  return new ConnectError(message, e.grpcStatus as number as Code, { [ERROR_CODE_HEADER]: e.code });
}

export function errorMappingInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      throw toConnectError(err, logger, req.method.name);
    }
  };
}

/** Client side: turns a ConnectError back into a SpindleError with the server's code. */
export function fromConnectError(err: unknown, socketPath: string): SpindleError {
  if (err instanceof SpindleError) return err;
  const ce = ConnectError.from(err);
  const code = ce.metadata.get(ERROR_CODE_HEADER);
  if (isErrorCode(code)) return spindleError(code, ce.rawMessage);
  // Without our header the server never answered: the socket is missing, refused or hung up.
  if (ce.code === Code.Unavailable || ce.code === Code.Unknown || ce.code === Code.Internal || ce.code === Code.DeadlineExceeded) {
    return spindleError("ERR_ADMIN_UNREACHABLE", `cannot reach the server admin socket ${socketPath}: ${ce.rawMessage}`, { cause: err });
  }
  if (ce.code === Code.InvalidArgument) return spindleError("ERR_INVALID_ARGUMENT", ce.rawMessage);
  return spindleError("ERR_INTERNAL", `admin API error (${Code[ce.code]}): ${ce.rawMessage}`, { cause: err });
}
