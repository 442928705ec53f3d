// Socket errors that only say the peer went away (a short-lived client closing while we still
// write: a PING ack, a window update, the rest of a response). Not the process's problem: logged
// at debug with the code and no stack (docs/logging.md, "Clients that hang up").
const HANG_UP_CODES: ReadonlySet<string> = new Set(["EPIPE", "ECONNRESET", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE", "ERR_STREAM_DESTROYED", "ERR_HTTP2_STREAM_ERROR", "ERR_HTTP2_INVALID_STREAM"]);

/** True when `err` (or its cause) is a hang-up of the peer. */
export function isClientHangUp(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === "object" && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && HANG_UP_CODES.has(code)) return true;
  }
  return false;
}
