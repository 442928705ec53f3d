// Agent API errors on the wire (src/transport/wire-errors.ts): the status of the SpindleError's code,
// the code in the `spindle-error-code` trailer, a rate limit's `retry-after` (seconds), causes only
// in the log.
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { SpindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { ERROR_CODE_KEY, RETRY_AFTER_KEY, logFailure, spindleErrorOf, toConnectError as wireError } from "../../transport/wire-errors.js";

export const ERROR_CODE_HEADER = ERROR_CODE_KEY;
export const RETRY_AFTER_HEADER = RETRY_AFTER_KEY;

export function toConnectError(err: unknown, logger: Logger, method: string): ConnectError {
  if (err instanceof ConnectError && !(err.cause instanceof SpindleError)) {
    logger.debug({ method, code: err.code, reason: err.rawMessage }, "agent API request rejected by the protocol layer");
  } else {
    logFailure(logger, spindleErrorOf(err), { method });
  }
  return wireError(err, "server");
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
