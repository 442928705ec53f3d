// Admin API errors on the wire (src/transport/wire-errors.ts): the status of the SpindleError's code,
// the code in the `spindle-error-code` header, causes only in the log.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { isErrorCode, SpindleError, spindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { ERROR_CODE_KEY, logFailure, spindleErrorOf, toConnectError as wireError } from "../../transport/wire-errors.js";

export const ERROR_CODE_HEADER = ERROR_CODE_KEY;

export function toConnectError(err: unknown, logger: Logger, method: string): ConnectError {
  if (err instanceof ConnectError && !(err.cause instanceof SpindleError)) {
    logger.debug({ method, code: err.code, reason: err.rawMessage }, "admin request rejected by the protocol layer");
  } else {
    logFailure(logger, spindleErrorOf(err), { method });
  }
  return wireError(err, "server");
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
