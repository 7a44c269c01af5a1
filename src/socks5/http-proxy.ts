/**
 * Forwarding HTTP proxy on the SOCKS port: serves absolute-form requests (`GET http://host/…`) of
 * one client connection, one exchange at a time, in order.
 *
 * Each origin (host:port) becomes an ordinary connect request handed to the same `onRequest`
 * callback as SOCKS5 and CONNECT requests, so whatever decides about those (link choice, access
 * rules) decides about these, and its SOCKS reply code comes back as an HTTP status. Requests go
 * out in origin form with hop-by-hop headers removed and framing the proxy sets itself; bodies are
 * streamed both ways, never buffered whole. The origin's channel is kept for the next request to
 * the same origin; a request naming another origin gets a new channel. Responses are re-framed
 * (Content-Length kept, otherwise chunked for HTTP/1.1 clients) so the client's keep-alive works
 * even when the origin delimits its body by closing.
 *
 * Anything that could make the proxy and the origin disagree about where a request ends gets a
 * 400 and a closed connection (see http-message.ts). Requests pipelined behind another wait in the
 * socket until the response before them is complete.
 */
import type { Socket } from 'node:net';
import type { CredentialChecker } from './credentials.js';
import { Socks5Error } from './errors.js';
import { BodyError, ChunkedBody, CloseDelimitedBody, LAST_CHUNK, LengthBody, encodeChunk, type BodyReader } from './http-body.js';
import { formatHttpResponse, httpResponseForReply, parseConnectAuthority, parseProxyAuthorization, HTTP_PROXY_AUTH_REQUIRED } from './http-connect.js';
import {
  MAX_PROXY_HEAD_BYTES,
  clientKeepsAlive,
  endToEndHeaders,
  formatHead,
  headerValues,
  originKeepsAlive,
  parseAbsoluteTarget,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  scanHead,
  type AbsoluteTarget,
  type HeaderField,
  type RequestHead,
  type ResponseHead,
} from './http-message.js';
import { OriginStream, type OriginStreamSink } from './origin-stream.js';
import { createConnectRequest, failureCode, type ConnectAnswer, type PendingRequest } from './requests.js';
import { endGracefully } from './socket-util.js';
import { type RejectReason, type ReplyCode, type SocksConnectRequest } from './types.js';

export interface HttpProxySettings {
  /** Null when no authentication is required. */
  credentials: CredentialChecker | null;
  /** How long the first request head may take to arrive complete. */
  firstHeadTimeoutMs: number;
  /** How long a kept-alive connection may wait for (the whole head of) its next request. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_HTTP_KEEP_ALIVE_MS = 60_000;

export interface HttpProxyCallbacks {
  /** Hands a connect request (one per origin, or a later CONNECT) to the server's onRequest. */
  submit(pending: PendingRequest<SocksConnectRequest>): void;
  /** A request was refused or the connection misbehaved (for debug logs). */
  onError(error: Socks5Error): void;
  /** The session no longer owns the socket (closed, or handed over to a CONNECT tunnel). */
  onDone(): void;
}

/** One origin's channel, from the connect request until it is dropped. */
interface Origin {
  key: string;
  stream: OriginStream | undefined;
  state: 'connecting' | 'open' | 'gone';
  /** May carry another request (decided by the last response). */
  reusable: boolean;
}

/** One request and its response. */
interface Exchange {
  method: string;
  /** The client's HTTP minor version: 1.0 clients get no 1xx and no chunked bodies. */
  clientMinor: 0 | 1;
  /** The client may send another request after this one. */
  keepAlive: boolean;
  /** Null when the request has no body. */
  body: BodyReader | null;
  chunkedBody: boolean;
  requestDone: boolean;
  /** The rewritten head, sent once the origin is connected. */
  head: Buffer;
  origin: Origin;
  target: AbsoluteTarget;
  /**
   * Sent on a kept-alive origin channel and safe to send again: a GET, HEAD or OPTIONS without a
   * body. If that channel turns out to have been closed by the origin (its idle close crossing
   * our request), the request is retried once on a new channel instead of failing with 502.
   */
  retryable: boolean;
  response: {
    phase: 'head' | 'body' | 'done';
    /** Response head bytes collected so far. */
    headBytes: Buffer[];
    headLength: number;
    reader: BodyReader | undefined;
    /** How the body is framed towards the client. */
    out: 'none' | 'length' | 'chunked' | 'close';
    /** Bytes of the response (1xx included) written to the client. */
    started: boolean;
    originReusable: boolean;
  };
}

type State = 'head' | 'connecting' | 'exchange' | 'closed';

export class HttpProxySession {
  private state: State = 'head';
  /** Client bytes read but not yet handled (a partial head, or what follows a request). */
  private input: Buffer;
  private clientEnded = false;
  private timer: NodeJS.Timeout | undefined;
  private origin: Origin | undefined;
  private exchange: Exchange | undefined;
  /** The origin stream's write callback, held until the client socket drains (backpressure). */
  private heldRelease: (() => void) | undefined;
  /** Close after the current exchange (server shutting down). */
  private draining = false;

  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onEnd = (): void => {
    this.clientEnded = true;
    if (this.state === 'head') this.pump();
    else if (this.exchange && !this.exchange.requestDone) this.close(new Socks5Error('ERR_SOCKS5_SOCKET_CLOSED', 'client closed during a request body'));
  };
  private readonly onClose = (): void => this.close();
  private readonly onDrain = (): void => {
    const release = this.heldRelease;
    this.heldRelease = undefined;
    release?.();
  };

  constructor(
    private readonly socket: Socket,
    initial: Buffer,
    private readonly settings: HttpProxySettings,
    private readonly callbacks: HttpProxyCallbacks,
  ) {
    this.input = initial;
  }

  start(): void {
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onClose);
    this.socket.on('drain', this.onDrain);
    this.armTimer(this.settings.firstHeadTimeoutMs);
    this.pump();
    if (this.state === 'head') this.socket.resume();
  }

  /** Server shutdown: an idle connection closes now, a busy one after its current exchange. */
  shutdown(): void {
    this.draining = true;
    if (this.state === 'head' && this.input.length === 0) this.endClient();
  }

  // ---- client → proxy --------------------------------------------------------------------------

  private receive(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    this.pump();
  }

  /** Handles buffered client bytes as far as the current state allows. */
  private pump(): void {
    if (this.state === 'head') this.readHead();
    if (this.state === 'exchange' && this.exchange && !this.exchange.requestDone) this.readBody(this.exchange);
  }

  private readHead(): void {
    if (this.input.length === 0) {
      if (this.clientEnded) this.endClient();
      return;
    }
    const scan = scanHead(this.input);
    if (scan.status === 'incomplete') {
      if (this.clientEnded) this.refuse(400, 'Bad Request', 'Incomplete request', 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    if (scan.status === 'invalid') {
      if (scan.problem === 'too-large') this.refuse(431, 'Request Header Fields Too Large', scan.reason, 'ERR_SOCKS5_HTTP_HEADERS_TOO_LARGE');
      else this.refuse(400, 'Bad Request', scan.reason, 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    this.input = this.input.subarray(scan.start + scan.length);
    const head = parseRequestHead(scan.lines);
    if (typeof head === 'string') {
      this.refuse(400, 'Bad Request', head, 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    this.clearTimer();
    this.handleRequest(head);
  }

  private handleRequest(head: RequestHead): void {
    if (!this.authorised(head)) {
      this.refuseWith(HTTP_PROXY_AUTH_REQUIRED, new Socks5Error('ERR_SOCKS5_AUTH_FAILED', 'missing or wrong proxy credentials'));
      return;
    }
    if (head.method === 'CONNECT') {
      this.handOverToConnect(head);
      return;
    }
    const target = parseAbsoluteTarget(head.target);
    if (target === 'not-absolute') {
      this.refuse(400, 'Bad Request', 'Absolute-form request URL required', 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    if (target === 'https') {
      this.refuse(400, 'Bad Request', 'Use CONNECT for HTTPS targets', 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    if (target === 'malformed') {
      this.refuse(400, 'Bad Request', 'Invalid request URL', 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    if (headerValues(head.headers, 'host').length > 1) {
      this.refuse(400, 'Bad Request', 'More than one Host header', 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    const framing = requestFraming(head);
    if (typeof framing === 'string') {
      this.refuse(400, 'Bad Request', framing, 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    const keepAlive = clientKeepsAlive(head) && !this.draining;
    const body = framing.kind === 'length' ? new LengthBody(framing.length) : framing.kind === 'chunked' ? new ChunkedBody() : null;
    const origin = this.originFor(target);
    const reused = origin.state === 'open';
    this.exchange = {
      target,
      retryable: reused && body === null && ['GET', 'HEAD', 'OPTIONS'].includes(head.method),
      method: head.method,
      clientMinor: head.minor,
      keepAlive,
      body,
      chunkedBody: framing.kind === 'chunked',
      requestDone: body === null,
      head: rewriteRequest(head, target, framing.kind === 'length' ? framing.length : framing.kind, keepAlive),
      origin,
      response: { phase: 'head', headBytes: [], headLength: 0, reader: undefined, out: 'none', started: false, originReusable: false },
    };
    if (origin.state === 'open') this.beginExchange();
    else this.connect(origin, target);
  }

  private authorised(head: RequestHead): boolean {
    const { credentials } = this.settings;
    if (credentials === null) return true;
    const values = headerValues(head.headers, 'proxy-authorization');
    if (values.length !== 1) return false;
    const offered = parseProxyAuthorization(values[0]);
    return offered !== null && credentials.matches(offered.username, offered.password);
  }

  /** A CONNECT after plain requests: the connection becomes a tunnel, like a first CONNECT. */
  private handOverToConnect(head: RequestHead): void {
    const target = parseConnectAuthority(head.target);
    if (target === null) {
      this.refuse(400, 'Bad Request', 'Invalid CONNECT target', 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    const rest = this.input;
    this.input = Buffer.alloc(0);
    this.dropOrigin();
    this.state = 'closed';
    this.detach();
    this.socket.pause();
    this.callbacks.onDone();
    this.callbacks.submit(createConnectRequest({ protocol: 'http-connect', socket: this.socket, ...target, head: rest }));
  }

  /** The open channel to this origin, or a new one (the previous origin's channel is dropped). */
  private originFor(target: AbsoluteTarget): Origin {
    const key = target.authority;
    const current = this.origin;
    if (current && current.key === key && current.state === 'open' && current.reusable) return current;
    this.dropOrigin();
    const origin: Origin = { key, stream: undefined, state: 'connecting', reusable: true };
    this.origin = origin;
    return origin;
  }

  private connect(origin: Origin, target: AbsoluteTarget): void {
    this.state = 'connecting';
    this.socket.pause();
    const answer: ConnectAnswer = {
      accept: (): Socket => {
        const stream = new OriginStream(this.sinkFor(origin), this.socket);
        if (this.origin !== origin || this.state === 'closed') {
          // Too late: the client left or moved on. Let the relay see the stream close.
          process.nextTick(() => stream.destroy());
          return stream.asSocket();
        }
        origin.stream = stream;
        origin.state = 'open';
        this.beginExchange();
        return stream.asSocket();
      },
      reject: (code: ReplyCode, reason?: RejectReason): void => {
        if (this.origin !== origin || this.state === 'closed') return;
        origin.state = 'gone';
        this.origin = undefined;
        const failure = failureCode(code);
        this.refuseWith(httpResponseForReply(failure, reason), new Socks5Error('ERR_SOCKS5_HTTP_REFUSED', `connect to ${origin.key} failed with SOCKS reply ${failure}`));
      },
    };
    const { host, port, addressType } = target;
    this.callbacks.submit(createConnectRequest({ protocol: 'http-proxy', socket: this.socket, host, port, addressType, head: Buffer.alloc(0), answer }));
  }

  /** The origin is connected: send the head and start streaming the body. */
  private beginExchange(): void {
    const exchange = this.exchange!;
    this.state = 'exchange';
    const stream = exchange.origin.stream!;
    stream.push(exchange.head);
    if (exchange.requestDone) {
      this.socket.pause();
      return;
    }
    this.readBody(exchange);
    if (this.state === 'exchange' && !exchange.requestDone) this.socket.resume();
  }

  private readBody(exchange: Exchange): void {
    const stream = exchange.origin.stream;
    if (stream === undefined || this.input.length === 0) return;
    let step;
    try {
      step = exchange.body!.feed(this.input);
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      this.refuse(400, 'Bad Request', err.message, 'ERR_SOCKS5_HTTP_MALFORMED');
      return;
    }
    this.input = this.input.subarray(step.consumed);
    let more = true;
    for (const data of step.data) {
      if (data.length === 0) continue;
      if (exchange.chunkedBody) for (const piece of encodeChunk(data)) more = stream.push(piece);
      else more = stream.push(data);
    }
    if (step.done) {
      if (exchange.chunkedBody) stream.push(LAST_CHUNK);
      exchange.requestDone = true;
      // Whatever follows is the next request: it waits until this response is complete.
      this.socket.pause();
      this.maybeFinishExchange();
    } else if (!more) {
      this.socket.pause();
    }
  }

  private sinkFor(origin: Origin): OriginStreamSink {
    return {
      onOriginData: (chunk, release) => this.onOriginData(origin, chunk, release),
      onOriginEnd: () => this.onOriginEnd(origin),
      onOriginClose: () => this.onOriginClose(origin),
      onRequestWanted: () => this.onRequestWanted(origin),
    };
  }

  private onRequestWanted(origin: Origin): void {
    const exchange = this.exchange;
    if (this.state === 'exchange' && exchange && exchange.origin === origin && !exchange.requestDone) this.socket.resume();
  }

  // ---- origin → client -------------------------------------------------------------------------

  private onOriginData(origin: Origin, chunk: Buffer, release: () => void): void {
    const exchange = this.exchange;
    if (this.state !== 'exchange' || exchange === undefined || exchange.origin !== origin || exchange.response.phase === 'done') {
      // Bytes outside any exchange: the origin is out of step; never pass them to the client.
      this.discardOrigin(origin);
      release();
      return;
    }
    const wrote = this.handleResponseBytes(exchange, chunk);
    if (wrote && this.socket.writableLength > 0 && this.socket.writableNeedDrain) this.heldRelease = release;
    else release();
  }

  /** Returns whether anything was written to the client. */
  private handleResponseBytes(exchange: Exchange, chunk: Buffer): boolean {
    const response = exchange.response;
    let rest = chunk;
    let wrote = false;
    while (rest.length > 0 && response.phase === 'head') {
      response.headBytes.push(rest);
      response.headLength += rest.length;
      const buffered = response.headBytes.length === 1 ? rest : Buffer.concat(response.headBytes);
      const scan = scanHead(buffered);
      if (scan.status === 'incomplete') return wrote;
      if (scan.status === 'invalid') {
        this.originFailed(exchange, `invalid response head from origin: ${scan.reason}`);
        return wrote;
      }
      response.headBytes = [];
      response.headLength = 0;
      rest = buffered.subarray(scan.start + scan.length);
      const head = parseResponseHead(scan.lines);
      if (typeof head === 'string') {
        this.originFailed(exchange, `invalid response head from origin: ${head}`);
        return wrote;
      }
      if (head.status < 200) {
        if (head.status === 101) {
          this.originFailed(exchange, 'origin switched protocols, which the proxy does not relay');
          return wrote;
        }
        // 1xx (100 Continue, 103 Early Hints): pass on to HTTP/1.1 clients, then read the real head.
        if (exchange.clientMinor === 1) {
          this.writeClient(formatHead(`HTTP/1.1 ${head.status} ${head.reason}`, endToEndHeaders(head.headers)));
          response.started = true;
          wrote = true;
        }
        continue;
      }
      if (!this.startResponse(exchange, head)) return wrote;
      wrote = true;
    }
    if (rest.length > 0 && response.phase === 'body') {
      wrote = this.feedResponseBody(exchange, rest) || wrote;
    } else if (rest.length > 0 && response.phase === 'done') {
      // Bytes after a complete response: this origin connection cannot be trusted any more.
      response.originReusable = false;
    }
    return wrote;
  }

  /** Writes the response head with the proxy's own framing; false when the head was unusable. */
  private startResponse(exchange: Exchange, head: ResponseHead): boolean {
    const response = exchange.response;
    const framing = responseFraming(head, exchange.method);
    if (typeof framing === 'string') {
      this.originFailed(exchange, `origin response: ${framing}`);
      return false;
    }
    const clientMinor = exchange.clientMinor;
    let out: Exchange['response']['out'];
    const extra: [string, string][] = [];
    const noBodyByRule = exchange.method === 'HEAD' || head.status === 304;
    let reader: BodyReader | undefined;
    switch (framing.kind) {
      case 'none':
        out = 'none';
        if (noBodyByRule) {
          // The origin's Content-Length describes the body a GET would get: keep it.
          const length = headerValues(head.headers, 'content-length')[0];
          if (length !== undefined) extra.push(['Content-Length', length]);
        } else if (head.status !== 204) {
          extra.push(['Content-Length', '0']);
        }
        break;
      case 'length':
        out = 'length';
        extra.push(['Content-Length', String(framing.length)]);
        reader = new LengthBody(framing.length);
        break;
      case 'chunked':
      case 'close':
        out = clientMinor === 1 ? 'chunked' : 'close';
        if (out === 'chunked') extra.push(['Transfer-Encoding', 'chunked']);
        reader = framing.kind === 'chunked' ? new ChunkedBody() : new CloseDelimitedBody();
        break;
    }
    response.out = out;
    response.reader = reader;
    response.originReusable = originKeepsAlive(head) && framing.kind !== 'close';
    // The connection survives only if the client wants that, the request body was read whole
    // (otherwise the next request's start is unknown) and the body framing is known to the client.
    exchange.keepAlive = exchange.keepAlive && exchange.requestDone && out !== 'close' && !this.draining;
    extra.push(['Connection', exchange.keepAlive ? 'keep-alive' : 'close']);
    const headers: (HeaderField | [string, string])[] = [...endToEndHeaders(head.headers), ...extra];
    this.writeClient(formatHead(`HTTP/1.1 ${head.status} ${head.reason}`, headers));
    response.started = true;
    response.phase = reader === undefined ? 'done' : 'body';
    if (response.phase === 'done') this.responseComplete(exchange);
    return true;
  }

  private feedResponseBody(exchange: Exchange, input: Buffer): boolean {
    const response = exchange.response;
    let step;
    try {
      step = response.reader!.feed(input);
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      this.originFailed(exchange, `origin response body: ${err.message}`);
      return false;
    }
    let wrote = false;
    for (const data of step.data) {
      if (data.length === 0) continue;
      if (response.out === 'chunked') for (const piece of encodeChunk(data)) this.writeClient(piece);
      else this.writeClient(data);
      wrote = true;
    }
    if (step.done) {
      if (step.consumed < input.length) response.originReusable = false;
      this.finishResponseBody(exchange);
      wrote = true;
    }
    return wrote;
  }

  private finishResponseBody(exchange: Exchange): void {
    if (exchange.response.out === 'chunked') this.writeClient(LAST_CHUNK);
    exchange.response.phase = 'done';
    this.responseComplete(exchange);
  }

  private onOriginEnd(origin: Origin): void {
    const exchange = this.exchange;
    if (origin !== this.origin || origin.state !== 'open') return;
    origin.reusable = false;
    if (exchange && exchange.origin === origin && this.state === 'exchange' && exchange.response.phase !== 'done') {
      const response = exchange.response;
      if (response.phase === 'body' && response.reader!.endOfInput()) {
        response.originReusable = false;
        this.finishResponseBody(exchange);
        return;
      }
      this.originFailed(exchange, 'origin closed before the response was complete');
      return;
    }
    // Between exchanges: the origin closed its idle connection; the next request dials again.
    if (!exchange || exchange.origin !== origin || exchange.response.phase === 'done') this.discardOrigin(origin);
  }

  private onOriginClose(origin: Origin): void {
    if (origin !== this.origin || origin.state !== 'open') return;
    const exchange = this.exchange;
    origin.state = 'gone';
    origin.reusable = false;
    this.origin = undefined;
    if (exchange && exchange.origin === origin && this.state === 'exchange' && exchange.response.phase !== 'done') {
      this.originFailed(exchange, 'origin connection failed');
    }
  }

  /** The response is complete: the next request may be read once the request is complete too. */
  private responseComplete(exchange: Exchange): void {
    if (!exchange.response.originReusable || !exchange.requestDone) exchange.origin.reusable = false;
    this.maybeFinishExchange();
  }

  private maybeFinishExchange(): void {
    const exchange = this.exchange;
    if (exchange === undefined || this.state !== 'exchange') return;
    if (exchange.response.phase !== 'done') return;
    if (!exchange.requestDone) {
      // The origin answered before the request body was complete: its end cannot be trusted to
      // be found, so this connection ends with the response (it said Connection: close).
      this.dropOrigin();
      this.endClient();
      return;
    }
    this.exchange = undefined;
    if (!exchange.origin.reusable) this.discardOrigin(exchange.origin);
    if (!exchange.keepAlive) {
      this.endClient();
      return;
    }
    this.state = 'head';
    this.armTimer(this.settings.keepAliveTimeoutMs);
    this.pump();
    if (this.state === 'head') this.socket.resume();
  }

  /**
   * The origin's answer is unusable or cut short. Before any response byte the client gets a 502;
   * after, its connection is reset, so a cut response never looks complete.
   */
  private originFailed(exchange: Exchange, reason: string): void {
    const response = exchange.response;
    if (exchange.retryable && !response.started && response.phase === 'head' && response.headLength === 0) {
      exchange.retryable = false;
      this.discardOrigin(exchange.origin);
      exchange.origin = this.originFor(exchange.target);
      this.connect(exchange.origin, exchange.target);
      return;
    }
    this.callbacks.onError(new Socks5Error('ERR_SOCKS5_HTTP_ORIGIN', reason));
    if (!exchange.response.started) {
      this.refuseWith(formatHttpResponse(502, 'Bad Gateway', [], 'Connection failed'));
      return;
    }
    this.close();
    this.socket.resetAndDestroy();
  }

  private writeClient(data: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  // ---- teardown --------------------------------------------------------------------------------

  private discardOrigin(origin: Origin | undefined): void {
    if (origin === undefined) return;
    if (this.origin === origin) this.origin = undefined;
    origin.reusable = false;
    if (origin.state === 'gone') return;
    origin.state = 'gone';
    origin.stream?.destroy();
  }

  private dropOrigin(): void {
    this.discardOrigin(this.origin);
  }

  /** Answers with an error (`Connection: close`) and closes. */
  private refuse(status: number, reason: string, explanation: string, code: Socks5Error['code']): void {
    this.refuseWith(formatHttpResponse(status, reason, [], explanation), new Socks5Error(code, explanation));
  }

  private refuseWith(response: Buffer, error?: Socks5Error): void {
    if (this.state === 'closed') return;
    if (error) this.callbacks.onError(error);
    const exchange = this.exchange;
    if (exchange?.response.started) {
      this.close();
      this.socket.resetAndDestroy();
      return;
    }
    this.close();
    endGracefully(this.socket, response);
  }

  private endClient(): void {
    if (this.state === 'closed') return;
    this.close();
    endGracefully(this.socket);
  }

  /** Stops the session and drops the origin; the caller decides how the client socket ends. */
  private close(error?: Socks5Error): void {
    if (this.state === 'closed') return;
    if (error) this.callbacks.onError(error);
    this.state = 'closed';
    this.exchange = undefined;
    this.heldRelease = undefined;
    this.dropOrigin();
    this.detach();
    this.input = Buffer.alloc(0);
    if (!this.socket.destroyed && error) this.socket.destroy();
    this.callbacks.onDone();
  }

  private detach(): void {
    this.clearTimer();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onClose);
    this.socket.off('drain', this.onDrain);
  }

  private armTimer(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state !== 'head') return;
      if (this.input.length === 0) this.endClient();
      else this.refuse(408, 'Request Timeout', 'Request head not received in time', 'ERR_SOCKS5_HANDSHAKE_TIMEOUT');
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The request as the origin gets it: origin form, Host from the URL, the proxy's own framing. */
function rewriteRequest(head: RequestHead, target: AbsoluteTarget, framing: number | 'none' | 'chunked' | 'close', keepAlive: boolean): Buffer {
  const headers: (HeaderField | [string, string])[] = [['Host', target.authority], ...endToEndHeaders(head.headers, ['host'])];
  if (typeof framing === 'number') headers.push(['Content-Length', String(framing)]);
  else if (framing === 'chunked') headers.push(['Transfer-Encoding', 'chunked']);
  if (!keepAlive) headers.push(['Connection', 'close']);
  return formatHead(`${head.method} ${target.path} HTTP/1.1`, headers);
}
