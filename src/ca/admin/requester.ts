// Who called the admin API: the peer credentials (SO_PEERCRED) of the Unix socket connection,
// read once per HTTP/2 session and carried to handlers as a connect context value.
import type { ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import type { Http2ServerRequest } from "node:http2";
import { createPeerCredentialsReader, type PeerCredentialsReader } from "../../transport/peer-cred.js";
import type { Logger } from "../../common/logger.js";

export const REQUESTER = createContextKey<string>("admin-socket", { description: "admin API caller" });

export interface RequesterTracker {
  onSession(session: ServerHttp2Session): void;
  contextValues(req: Http2ServerRequest): ContextValues;
}

export function createRequesterTracker(logger: Logger): RequesterTracker {
  let read: PeerCredentialsReader | undefined;
  try {
    read = createPeerCredentialsReader();
  } catch (err) {
    logger.warn({ err }, "admin API callers cannot be identified (no SO_PEERCRED); audit lines say admin-socket");
  }
  const bySession = new WeakMap<ServerHttp2Session, string>();
  return {
    onSession(session) {
      if (!read) return;
      try {
        const c = read(session.socket as unknown as Socket);
        bySession.set(session, `admin-socket uid=${c.uid} pid=${c.pid}`);
      } catch (err) {
        logger.warn({ err }, "cannot read the admin caller's peer credentials");
      }
    },
    contextValues(req) {
      const who = bySession.get(req.stream.session as ServerHttp2Session) ?? "admin-socket";
      return createContextValues().set(REQUESTER, who);
    },
  };
}
