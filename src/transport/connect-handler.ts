// The Node request handler of the server's connect services (agent API, admin API): connect's
// router and Node adapters, plus the one fix connect has no hook for. A unary request body is
// decoded before any interceptor runs, and an undecodable one is answered INTERNAL with the
// decoder's text ("parse binary: ...") — HTTP 500 in the Connect protocol, grpc-status 13 in gRPC.
// It is the caller's fault: it is answered as wire-errors.ts answers ERR_INVALID_ARGUMENT, and the
// decoder's text goes to the log.
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { isClientHangUp } from "../common/hang-up.js";
import type { Logger } from "../common/logger.js";
import { ERROR_CODE_KEY, UNDECODABLE_MESSAGE, isConnectDecodeError } from "./wire-errors.js";

export interface ConnectHandlerOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  contextValues?: (req: Http2ServerRequest) => ContextValues;
  logger: Logger;
}

export function createConnectHandler(options: ConnectHandlerOptions): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  const router = createConnectRouter({ interceptors: options.interceptors, acceptCompression: [compressionGzip, compressionBrotli] });
  options.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = paths.get(req.url.split("?", 2)[0] ?? "");
    if (handler === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    const method = handler.method.name;
    const uReq = universalRequestFromNodeRequest(req, res, undefined, options.contextValues?.(req));
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(reclassifyUndecodable(uRes, (reason) => options.logger.info({ method, reason }, "refusing an undecodable request body")), res))
      .catch((err: unknown) => {
        if (ConnectError.from(err).code === Code.Aborted) return;
        // A caller that hung up mid-response is not news (docs/logging.md).
        if (isClientHangUp(err)) options.logger.debug({ method, code: (err as { code?: unknown }).code }, "the client hung up before the response was written");
        else options.logger.warn({ err, method }, "writing a response failed");
      });
  };
}

/** The Connect protocol's HTTP status for invalid_argument. */
const CONNECT_INVALID_ARGUMENT = 400;

function reclassifyUndecodable(uRes: UniversalServerResponse, log: (reason: string) => void): UniversalServerResponse {
  const contentType = uRes.header?.get("content-type") ?? "";
  // Connect protocol, unary: the error is a JSON body behind an HTTP status.
  if (uRes.status === 500 && contentType.startsWith("application/json") && uRes.body !== undefined) {
    // universalResponseToNodeResponse reads status and headers after the first body chunk.
    const body = uRes.body;
    const out: UniversalServerResponse = { ...uRes, header: new Headers(uRes.header) };
    out.body = (async function* () {
      const chunks: Uint8Array[] = [];
      for await (const chunk of body) chunks.push(chunk);
      const parsed = parseConnectError(Buffer.concat(chunks).toString("utf8"));
      if (parsed === undefined || !isConnectDecodeError(new ConnectError(parsed.message, Code.Internal))) {
        yield* chunks;
        return;
      }
      log(parsed.message);
      const replaced = Buffer.from(JSON.stringify({ code: "invalid_argument", message: UNDECODABLE_MESSAGE }));
      out.status = CONNECT_INVALID_ARGUMENT;
      out.header!.set("content-length", String(replaced.length));
      out.header!.set(ERROR_CODE_KEY, "ERR_INVALID_ARGUMENT");
      yield replaced;
    })();
    return out;
  }
  return reclassifyGrpc(uRes, log);
}

function parseConnectError(text: string): { message: string } | undefined {
  try {
    const v = JSON.parse(text) as { code?: unknown; message?: unknown };
    return v.code === "internal" && typeof v.message === "string" ? { message: v.message } : undefined;
  } catch {
    return undefined;
  }
}

// gRPC protocol: the status is in the trailers (or the headers of a trailers-only answer), set
// once the body has been produced.
function reclassifyGrpc(uRes: UniversalServerResponse, log: (reason: string) => void): UniversalServerResponse {
  const fix = (h: Headers | undefined) => {
    if (h?.get("grpc-status") !== "13") return;
    const message = decodeURIComponent(h.get("grpc-message") ?? "");
    if (!isConnectDecodeError(new ConnectError(message, Code.Internal))) return;
    log(message);
    h.set("grpc-status", String(Code.InvalidArgument));
    h.set("grpc-message", encodeURIComponent(UNDECODABLE_MESSAGE));
    h.set(ERROR_CODE_KEY, "ERR_INVALID_ARGUMENT");
  };
  fix(uRes.header);
  if (uRes.body === undefined) {
    fix(uRes.trailer);
    return uRes;
  }
  const body = uRes.body;
  return {
    ...uRes,
    body: (async function* () {
      yield* body;
      fix(uRes.trailer);
    })(),
  };
}
