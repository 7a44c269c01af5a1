import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { ClientOptions, RawData } from 'ws';
import type { Logger } from '../log.js';
import { decodeMessage, encodeMessage } from '../protocol/index.js';
import type { Message } from '../protocol/index.js';
import { Link, rawDataToBuffer } from '../relay/link.js';
import type { LinkOptions } from '../relay/link.js';
import { AuthError, LinkSocksClientError } from './errors.js';
import { displayUrl, usesQueryAuth, withAuthQuery } from './url.js';

export interface ConnectionOptions {
  /** Server URLs in failover order (one or more): each attempt goes to the next one, round the list. */
  urls: readonly URL[];
  token: string;
  reverse: boolean;
  instance: string;
  /** Extra `ws` options (TLS settings, headers). */
  wsOptions: ClientOptions;
  reconnect: boolean;
  retryAuth: boolean;
  /** First reconnect delay (HEAD: 1 s), multiplied by 1.5 after each failed attempt up to the cap. */
  initialDelayMs: number;
  maxDelayMs: number;
  authTimeoutMs: number;
  linkOptions: LinkOptions;
  /** Announce transport grace to the server right after authentication. */
  announceGrace: boolean;
  logger: Logger;
  /** Position among the client's threads, for log lines (`k/N`). */
  index: number;
  total: number;
}

/** Events of a ClientConnection, for `connection.on(...)` with typed arguments. */
export interface ClientConnectionEvents {
  /** Authenticated; emitted synchronously, before any message behind the AuthResponse is handled. */
  up: [link: Link];
  /** The link of an earlier 'up' closed. */
  down: [link: Link];
  /** The loop has stopped for good (no reconnect, or a non-retriable error). */
  fatal: [error: LinkSocksClientError];
}

const MAX_MESSAGE_SIZE = 32 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 45_000;

/**
 * One of the client's WebSocket connections ("thread", SESSION.md §9): dials, authenticates,
 * hands the authenticated Link to the client, and reconnects with backoff when it drops.
 *
 * Events: see ClientConnectionEvents.
 */
export class ClientConnection extends EventEmitter<ClientConnectionEvents> {
  private readonly options: ConnectionOptions;
  private current: Link | undefined;
  private ws: WebSocket | undefined;
  private stopped = false;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Index in `urls` of the next attempt. */
  private cursor = 0;
  /**
   * Tokens servers assigned in their AuthResponse (linksocks.js does for anonymous providers),
   * by URL: newer Go clients reconnect with that one. Only the server that assigned a token knows
   * it, so another URL of the list still gets the configured token. At most one entry per URL.
   */
  private readonly assigned = new Map<string, string>();

  constructor(options: ConnectionOptions) {
    super();
    this.options = options;
  }

  get link(): Link | undefined {
    return this.current && !this.current.isClosed ? this.current : undefined;
  }

  start(): void {
    void this.run();
  }

  close(): void {
    this.stopped = true;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    this.current?.close(1000);
    this.ws?.terminate();
  }

  /**
   * The reconnect loop. Every attempt goes to the next URL of the list. Attempts run back to back
   * until each URL has been tried once since the last wait (a "round"); after a failed round the
   * backoff applies as with one URL (×1.5 per round, up to the cap). A link that authenticated and
   * lived at least the first delay starts a new round at the next URL at once (failover); one that
   * died sooner waits the first delay, so servers that accept and drop cannot make a busy loop.
   * Without `reconnect`, the first connection still tries each URL once; a lost link is fatal.
   */
  private async run(): Promise<void> {
    const { initialDelayMs, maxDelayMs, logger, urls } = this.options;
    let delay = initialDelayMs;
    let unwaited = urls.length;
    while (!this.stopped) {
      const url = urls[this.cursor]!;
      this.cursor = (this.cursor + 1) % urls.length;
      unwaited -= 1;
      let authenticated = false;
      try {
        const link = await this.connectOnce(url);
        authenticated = true;
        const since = Date.now();
        await new Promise<void>((resolve) => link.once('close', resolve));
        this.current = undefined;
        this.emit('down', link);
        if (this.stopped) return;
        if (!this.options.reconnect) {
          throw new LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', 'connection to server lost', false);
        }
        unwaited = Date.now() - since >= initialDelayMs ? urls.length - 1 : 0;
      } catch (err) {
        if (this.stopped) return;
        const error =
          err instanceof LinkSocksClientError
            ? err
            : new LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', errorText(err), true, { cause: err });
        if (!error.retriable || (!this.options.reconnect && unwaited <= 0)) {
          this.stopped = true;
          this.emit('fatal', error);
          return;
        }
        logger.warn(urls.length > 1 ? { err: error.message, url: displayUrl(url) } : { err: error.message }, 'Connection error');
      }
      if (unwaited > 0) {
        logger.info({ url: displayUrl(urls[this.cursor]!) }, 'Trying the next server URL');
        continue;
      }
      delay = authenticated ? initialDelayMs : Math.min(delay * 1.5, maxDelayMs);
      // Jitter (±20 %) keeps many clients of one server from reconnecting in lock step.
      const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
      logger.info(`Connection error, waiting ${formatDuration(wait)} before retrying`);
      await this.sleep(wait);
      unwaited = urls.length;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  /** Dials and authenticates once; resolves with the authenticated Link. */
  private connectOnce(url: URL): Promise<Link> {
    const { reverse, instance, logger } = this.options;
    const token = this.assigned.get(url.href) ?? this.options.token;
    const queryAuth = usesQueryAuth(url);
    const target = queryAuth ? withAuthQuery(url, token, reverse, instance) : url;
    return new Promise<Link>((resolve, reject) => {
      let socket: Socket | undefined;
      let settled = false;
      const ws = new WebSocket(target, {
        perMessageDeflate: false,
        maxPayload: MAX_MESSAGE_SIZE,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        followRedirects: true,
        maxRedirects: 5,
        ...this.options.wsOptions,
      });
      this.ws = ws;
      ws.binaryType = 'nodebuffer';
      const timer = setTimeout(
        () => fail(new LinkSocksClientError('ERR_LINKSOCKS_AUTH_TIMEOUT', 'timeout waiting for auth response', true)),
        HANDSHAKE_TIMEOUT_MS + this.options.authTimeoutMs,
      );
      const fail = (err: LinkSocksClientError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners('message');
        ws.on('error', () => undefined);
        ws.terminate();
        reject(err);
      };
      ws.on('upgrade', (res: IncomingMessage) => {
        socket = res.socket as Socket;
      });
      ws.on('unexpected-response', (_req, res: IncomingMessage) => {
        fail(new LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', `websocket: bad handshake (HTTP ${res.statusCode ?? '?'})`, true));
      });
      // The `ws` error (ECONNREFUSED, a TLS failure, …) stays reachable as `cause`.
      ws.on('error', (err: Error) => fail(new LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', err.message, true, { cause: err })));
      ws.on('close', () => fail(new LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', 'connection closed during authentication', true)));
      ws.on('open', () => {
        logger.debug({ url: displayUrl(url) }, 'WebSocket connected');
        if (!queryAuth) ws.send(encodeMessage({ type: 'auth', token, reverse, instance }));
      });
      const onFirstMessage = (data: RawData): void => {
        ws.off('message', onFirstMessage);
        let msg: Message;
        try {
          msg = decodeMessage(rawDataToBuffer(data));
        } catch {
          fail(new LinkSocksClientError('ERR_LINKSOCKS_AUTH_UNEXPECTED', 'unexpected message type for auth response', true));
          return;
        }
        if (msg.type !== 'authResponse') {
          fail(new LinkSocksClientError('ERR_LINKSOCKS_AUTH_UNEXPECTED', 'unexpected message type for auth response', true));
          return;
        }
        if (!msg.success) {
          const text =
            token === 'anonymous'
              ? 'authentication failed: please provide a token with -t or set LINKSOCKS_TOKEN'
              : 'authentication failed: invalid token';
          logger.error({ reason: msg.error }, 'Authentication failed');
          fail(new AuthError(text, msg.error, this.options.retryAuth));
          return;
        }
        if (!socket) {
          fail(new LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', 'no socket after upgrade', true));
          return;
        }
        if (msg.assignedToken && msg.assignedToken !== token) {
          this.assigned.set(url.href, msg.assignedToken);
          logger.info('The server assigned a token; it is used when reconnecting');
        }
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners('close');
        ws.removeAllListeners('error');
        // Created synchronously so messages right behind the AuthResponse reach the Link.
        const link = new Link(ws, socket, this.options.linkOptions);
        const { index, total, urls } = this.options;
        logger.info(urls.length > 1 ? { url: displayUrl(url) } : {}, `Authentication successful for ${reverse ? 'reverse' : 'forward'} proxy (${index + 1}/${total})`);
        // 'up' is emitted synchronously so the owner's message handlers see a Partners message
        // that arrived in the same read as the AuthResponse.
        this.current = link;
        if (this.options.announceGrace) link.announceGrace();
        this.emit('up', link);
        resolve(link);
      };
      ws.on('message', onFirstMessage);
    });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Go's time.Duration style for the retry log line (`1.5s`, `2m30s`). */
function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(3))}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Number((s - m * 60).toFixed(3))}s`;
}
