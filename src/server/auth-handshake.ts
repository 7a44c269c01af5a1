/**
 * The first step of every WebSocket: find out which token (and role) it authenticates as. A
 * `token` query parameter decides at once; otherwise the first message must be an Auth message
 * (SESSION.md §3). The rules themselves are in authenticate.ts; this file is the waiting.
 */
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import type { Logger } from '../log.js';
import { decodeMessage, encodeMessage } from '../protocol/index.js';
import type { Message } from '../protocol/index.js';
import { rawDataToBuffer } from '../relay/link.js';
import { AUTH_ERROR_MESSAGE, decideByAuthMessage, decideByQuery } from './authenticate.js';
import type { AuthDecision, TokenRoles } from './authenticate.js';

/** Go waits for the Auth message forever; we do not. */
const AUTH_MESSAGE_TIMEOUT_MS = 30_000;
/** Upgrades allowed to sit waiting for their Auth message at once. */
const MAX_PENDING_AUTH = 1024;

export class AuthHandshakes {
  /** Sockets still waiting for their Auth message, so the server's close() can drop them. */
  private readonly pending = new Set<WebSocket>();

  constructor(
    private readonly roles: TokenRoles,
    private readonly logger: Logger,
  ) {}

  /**
   * Calls `decided` once with the decision, unless the socket is refused outright (too many
   * waiting) or closes first. A callback rather than a promise: for an Auth message it runs while
   * that message is dispatched, so a message the client sent right behind it is still emitted after
   * the caller has attached its own listeners.
   */
  begin(ws: WebSocket, req: IncomingMessage, decided: (decision: AuthDecision) => void): void {
    ws.binaryType = 'nodebuffer';
    ws.on('error', () => undefined);
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const byQuery = decideByQuery(query, this.roles);
    if (byQuery) {
      decided(byQuery);
      return;
    }
    if (this.pending.size >= MAX_PENDING_AUTH) {
      this.logger.warn('too many connections waiting for their Auth message, refused');
      ws.terminate();
      return;
    }
    this.pending.add(ws);
    const timer = setTimeout(() => fail(AUTH_ERROR_MESSAGE), AUTH_MESSAGE_TIMEOUT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      this.pending.delete(ws);
      ws.off('message', onMessage);
      ws.off('close', cleanup);
    };
    const fail = (error: string): void => {
      cleanup();
      decided({ ok: false, error });
    };
    const onMessage = (data: RawData): void => {
      let msg: Message;
      try {
        msg = decodeMessage(rawDataToBuffer(data));
      } catch {
        fail(AUTH_ERROR_MESSAGE);
        return;
      }
      if (msg.type !== 'auth') {
        fail(AUTH_ERROR_MESSAGE);
        return;
      }
      cleanup();
      decided(decideByAuthMessage(msg, this.roles));
    };
    ws.on('message', onMessage);
    ws.on('close', cleanup);
  }

  /** Drops every socket still waiting for its Auth message. */
  terminateAll(): void {
    for (const ws of this.pending) ws.terminate();
  }
}

/** Go writes the failure, then drops the TCP connection without a close frame. */
export function refuseAuth(ws: WebSocket, error: string): void {
  ws.send(encodeMessage({ type: 'authResponse', success: false, error }), () => ws.terminate());
}
