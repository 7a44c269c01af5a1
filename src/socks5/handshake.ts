/**
 * Drives the server side of one client connection from its first byte until a request is parsed
 * (or the client is turned away): SOCKS5 greeting, optional RFC 1929 authentication, request —
 * or, when the first byte looks like an HTTP method, a CONNECT head (any other method is handed
 * to the forwarding proxy, http-proxy.ts, with every byte received). Works on any
 * fragmentation of the input; bytes after the request are kept as the request's `head`.
 * Replies follow ../shared/spec/MODES.md §7.2–7.3 and §7.7.
 */
import type { Socket } from 'node:net';
import type { CredentialChecker, Identity } from './credentials.js';
import { Socks5Error } from './errors.js';
import { ByteAccumulator, parseCommandRequest, parseGreeting, parseUserPassAuth, type CommandRequest } from './handshake-parser.js';
import {
  HTTP_PROXY_AUTH_REQUIRED,
  formatHttpResponse,
  looksLikeHttp,
  parseConnectAuthority,
  parseProxyAuthorization,
  peekConnect,
  readHttpRequestHead,
  type HttpRequestHead,
} from './http-connect.js';
import { endGracefully } from './socket-util.js';
import { Reply } from './types.js';
import { Command, Method, SOCKS_VERSION, formatAuthStatus, formatMethodSelection, formatSocksReply } from './wire.js';

export interface HandshakeSettings {
  /** Null when no authentication is required. */
  credentials: CredentialChecker | null;
  httpConnect: boolean;
  timeoutMs: number;
}

/** What a finished handshake produced; the server turns it into a request object. */
export type HandshakeResult =
  | { protocol: 'socks5'; request: CommandRequest; head: Buffer; identity?: Identity }
  | { protocol: 'http-connect'; host: string; port: number; addressType: CommandRequest['addressType']; head: Buffer; identity?: Identity }
  /** Any other HTTP method: the forwarding proxy parses `head` (all bytes received) itself. */
  | { protocol: 'http-proxy'; head: Buffer };

export interface HandshakeCallbacks {
  /** The socket is paused and no longer watched by the handshake. */
  onComplete(result: HandshakeResult): void;
  /** The client was turned away or misbehaved; the socket is closing (still being drained). */
  onFailure(error: Socks5Error): void;
}

type Stage = 'detect' | 'greeting' | 'auth' | 'request' | 'http' | 'done';

const GENERAL_FAILURE = formatSocksReply(Reply.GeneralFailure);

export class Handshake {
  private stage: Stage = 'detect';
  private readonly input = new ByteAccumulator();
  private identity: Identity | undefined;
  private timer: NodeJS.Timeout | undefined;

  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onEnd = (): void => {
    // After a failure reply our side is already ended, so the socket closes by itself; destroying
    // here could discard that reply. Before the request, EOF gets no answer (MODES.md §7.3).
    if (this.stage === 'done') return;
    this.fail(new Socks5Error('ERR_SOCKS5_SOCKET_CLOSED', 'client closed during handshake'));
    this.socket.destroy();
  };
  private readonly onError = (err: Error): void => {
    if (this.stage !== 'done') this.fail(new Socks5Error('ERR_SOCKS5_SOCKET', `socket error during handshake: ${err.message}`, { cause: err }));
    this.socket.destroy();
  };
  private readonly onClose = (): void => this.clearTimer();

  constructor(
    private readonly socket: Socket,
    private readonly settings: HandshakeSettings,
    private readonly callbacks: HandshakeCallbacks,
  ) {}

  start(): void {
    this.timer = setTimeout(() => {
      if (this.stage !== 'done') {
        this.fail(new Socks5Error('ERR_SOCKS5_HANDSHAKE_TIMEOUT', `handshake not completed within ${this.settings.timeoutMs} ms`));
      }
      this.socket.destroy();
    }, this.settings.timeoutMs);
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
  }

  private receive(chunk: Buffer): void {
    if (this.stage === 'done') return; // Draining after a failure reply.
    this.input.push(chunk);
    // Several messages may arrive in one chunk (pipelining clients); handle all of them.
    while (this.input.length > 0 && this.advance());
  }

  /** Handles one message if it is complete; false when more bytes are needed. */
  private advance(): boolean {
    switch (this.stage) {
      case 'detect':
        return this.detect();
      case 'greeting':
        return this.greeting();
      case 'auth':
        return this.auth();
      case 'request':
        return this.request();
      case 'http':
        return this.http();
      case 'done':
        return false;
    }
  }

  private detect(): boolean {
    const first = this.input.peekByte();
    if (first === SOCKS_VERSION) this.stage = 'greeting';
    else if (this.settings.httpConnect && first !== undefined && looksLikeHttp(first)) this.stage = 'http';
    else {
      this.reject(new Socks5Error('ERR_SOCKS5_VERSION', `invalid socks version: ${first}`), GENERAL_FAILURE);
      return false;
    }
    return true;
  }

  private greeting(): boolean {
    const step = this.input.read(parseGreeting);
    if (step.status === 'incomplete') return false;
    if (step.status === 'invalid') {
      this.reject(step.error, GENERAL_FAILURE);
      return false;
    }
    if (this.settings.credentials === null) {
      // Without credentials Go answers "no auth" whatever was offered (MODES.md §7.2).
      this.socket.write(formatMethodSelection(Method.NoAuth));
      this.stage = 'request';
    } else if (step.value.methods.includes(Method.UserPass)) {
      this.socket.write(formatMethodSelection(Method.UserPass));
      this.stage = 'auth';
    } else {
      this.reject(
        new Socks5Error('ERR_SOCKS5_NO_ACCEPTABLE_METHOD', 'username/password required but not offered'),
        formatMethodSelection(Method.NoAcceptable),
      );
      return false;
    }
    return true;
  }

  private auth(): boolean {
    const step = this.input.read(parseUserPassAuth);
    if (step.status === 'incomplete') return false;
    if (step.status === 'invalid') {
      this.reject(step.error, formatAuthStatus(false));
      return false;
    }
    const identity = this.settings.credentials!.identify(step.value.username, step.value.password);
    if (identity === null) {
      this.reject(new Socks5Error('ERR_SOCKS5_AUTH_FAILED', 'wrong username or password'), formatAuthStatus(false));
      return false;
    }
    this.identity = identity;
    this.socket.write(formatAuthStatus(true));
    this.stage = 'request';
    return true;
  }

  private request(): boolean {
    const step = this.input.read(parseCommandRequest);
    if (step.status === 'incomplete') return false;
    if (step.status === 'invalid') {
      const code = step.error.code === 'ERR_SOCKS5_ADDRESS_TYPE' ? Reply.AddressTypeNotSupported : Reply.GeneralFailure;
      this.reject(step.error, formatSocksReply(code));
      return false;
    }
    const { command } = step.value;
    if (command !== Command.Connect && command !== Command.UdpAssociate) {
      this.reject(
        new Socks5Error('ERR_SOCKS5_COMMAND_NOT_SUPPORTED', `unsupported command: ${command}`),
        formatSocksReply(Reply.CommandNotSupported),
      );
      return false;
    }
    this.complete({ protocol: 'socks5', request: step.value, head: this.input.takeRest(), identity: this.identity });
    return false; // Done: whatever follows belongs to the relay.
  }

  private http(): boolean {
    const connect = this.input.read(peekConnect);
    if (connect.status !== 'complete') return false;
    if (!connect.value) {
      this.complete({ protocol: 'http-proxy', head: this.input.takeRest() });
      return false;
    }
    const step = this.input.read(readHttpRequestHead);
    if (step.status === 'incomplete') return false;
    if (step.status === 'invalid') {
      const response =
        step.error.code === 'ERR_SOCKS5_HTTP_HEADERS_TOO_LARGE'
          ? formatHttpResponse(431, 'Request Header Fields Too Large')
          : formatHttpResponse(400, 'Bad Request');
      this.reject(step.error, response);
      return false;
    }
    this.httpRequest(step.value);
    return false;
  }

  private httpRequest(head: HttpRequestHead): void {
    const target = parseConnectAuthority(head.target);
    if (target === null) {
      this.reject(new Socks5Error('ERR_SOCKS5_HTTP_MALFORMED', 'malformed CONNECT target'), formatHttpResponse(400, 'Bad Request'));
      return;
    }
    const { credentials } = this.settings;
    let identity: Identity | undefined;
    if (credentials !== null) {
      const offered = parseProxyAuthorization(head.headers.get('proxy-authorization'));
      const found = offered === null ? null : credentials.identify(offered.username, offered.password);
      if (found === null) {
        this.reject(new Socks5Error('ERR_SOCKS5_AUTH_FAILED', 'missing or wrong proxy credentials'), HTTP_PROXY_AUTH_REQUIRED);
        return;
      }
      identity = found;
    }
    this.complete({ protocol: 'http-connect', ...target, head: this.input.takeRest(), identity });
  }

  private complete(result: HandshakeResult): void {
    this.stage = 'done';
    this.clearTimer();
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    this.callbacks.onComplete(result);
  }

  /** Sends the failure reply and closes; the timer stays armed as the upper bound of the drain. */
  private reject(error: Socks5Error, reply: Buffer): void {
    this.fail(error);
    this.input.takeRest();
    endGracefully(this.socket, reply);
  }

  private fail(error: Socks5Error): void {
    if (this.stage === 'done') return;
    this.stage = 'done';
    this.callbacks.onFailure(error);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
