// Emulated newest LinkSocks peers (../shared/spec/NEWEST.md), scripted in-process: a server, and
// clients in the forward, provider and connector roles. They write what a default newest peer
// writes (wire.ts): version byte 0x02 everywhere, hellos and DirectCapabilities after
// authentication, channel-control noise, a sequence on every Data. No binary of those versions
// can run here, so these are built from the spec text. Everything our implementation sends them
// is checked against what every LinkSocks version accepts (`violations`).
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';

import type { ConnectMessage, Message, OutgoingMessage } from '../../src/protocol/index.js';
import { LOCALHOST } from '../../test/helpers/net.js';
import {
  authSuccessWithToken,
  channelNoise,
  clientGreeting,
  decodeFromPeer,
  logFrame,
  newestFrame,
  PROBE,
  SERVER_HELLO,
} from '../../test/helpers/newest-wire.js';

const CHUNK = 32 * 1024;
/** Noise about a channel goes out every this many Data frames. */
const NOISE_EVERY = 16;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Where a channel's Data goes on the emulator's side. */
interface ChannelSink {
  onData(data: Buffer): void;
  onDisconnect(error: string): void;
}

/** One WebSocket driven the way a newest peer drives it (either end). */
export class NewestLink {
  /** Frames from the implementation under test that not every LinkSocks version accepts. */
  readonly violations: string[] = [];
  /** Everything but Data, in arrival order. */
  readonly received: Message[] = [];
  readonly sinks = new Map<string, ChannelSink>();
  private readonly sequences = new Map<string, bigint>();
  private readonly listeners = new Set<(msg: Message) => void>();
  private readonly closed: Promise<void>;

  constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('error', () => undefined);
    ws.on('message', (data: RawData) => this.onFrame(toBuffer(data)));
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendFrame(frame: Buffer): void {
    if (this.isOpen) this.ws.send(frame);
  }

  send(msg: OutgoingMessage): void {
    this.sendFrame(newestFrame(msg));
  }

  /** Data in 32 KiB frames, each with the channel's next sequence, noise every few frames. */
  sendData(channelId: string, payload: Buffer): void {
    for (let offset = 0; offset < payload.length; offset += CHUNK) {
      const sequence = (this.sequences.get(channelId) ?? 0n) + 1n;
      this.sequences.set(channelId, sequence);
      const data = payload.subarray(offset, Math.min(offset + CHUNK, payload.length));
      this.sendFrame(
        newestFrame(
          { type: 'data', protocol: 'tcp', channelId, compression: 0, data, address: '', port: 0, targetAddr: '', targetPort: 0 },
          sequence,
        ),
      );
      if (sequence % BigInt(NOISE_EVERY) === 1n) for (const frame of channelNoise(channelId, sequence)) this.sendFrame(frame);
    }
  }

  /** Calls `fn` for every non-Data message matching `match`: those already received, then new ones. */
  each(match: (msg: Message) => boolean, fn: (msg: Message) => void): void {
    for (const msg of this.received) if (match(msg)) fn(msg);
    this.listeners.add((msg) => {
      if (match(msg)) fn(msg);
    });
  }

  /** The first received non-Data message matching `match` (already received or future). */
  next(match: (msg: Message) => boolean, timeoutMs = 10_000, label = 'message'): Promise<Message> {
    const found = this.received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`newest peer: no ${label} within ${timeoutMs} ms; got ${this.received.map((m) => m.type).join(',')}`));
      }, timeoutMs);
      const listener = (msg: Message): void => {
        if (!match(msg)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(msg);
      };
      this.listeners.add(listener);
    });
  }

  close(): Promise<void> {
    this.ws.terminate();
    return this.closed;
  }

  /** Pipes a TCP socket and a channel both ways (the dialing side of a channel). */
  pipe(channelId: string, socket: net.Socket): void {
    this.sinks.set(channelId, {
      onData: (data) => socket.write(data),
      onDisconnect: () => socket.end(),
    });
    socket.on('data', (chunk: Buffer) => this.sendData(channelId, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.sinks.delete(channelId)) this.send({ type: 'disconnect', channelId, error: '' });
    });
  }

  private onFrame(frame: Buffer): void {
    let msg: Message;
    try {
      msg = decodeFromPeer(frame, this.violations);
    } catch (err) {
      this.violations.push(`undecodable frame: ${String(err)}`);
      return;
    }
    if (msg.type === 'data') {
      this.sinks.get(msg.channelId)?.onData(Buffer.from(msg.data));
      return;
    }
    if (msg.type === 'disconnect') {
      const sink = this.sinks.get(msg.channelId);
      this.sinks.delete(msg.channelId);
      sink?.onDisconnect(msg.error);
    }
    if (msg.type === 'log' && msg.level === 'trace' && msg.msg.startsWith('probe:')) {
      this.sendFrame(logFrame('trace', 'pong:{"version":"v1.8.13"}'));
    }
    this.received.push(msg);
    for (const listener of [...this.listeners]) listener(msg);
  }
}

/** A channel opened by an emulated peer (the side that owns it): bytes counted as they come back. */
export class NewestStream {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private waiter: (() => void) | undefined;
  disconnected: string | undefined;

  constructor(
    readonly link: NewestLink,
    readonly channelId: string,
  ) {
    link.sinks.set(channelId, {
      onData: (data) => {
        this.chunks.push(data);
        this.length += data.length;
        this.waiter?.();
      },
      onDisconnect: (error) => {
        this.disconnected = error;
        this.waiter?.();
      },
    });
  }

  write(payload: Buffer): void {
    this.link.sendData(this.channelId, payload);
  }

  /** Resolves with exactly `size` bytes once they have arrived; rejects on Disconnect or timeout. */
  read(size: number, timeoutMs = 60_000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`read ${this.length} of ${size} bytes in ${timeoutMs} ms`)), timeoutMs);
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.waiter = undefined;
        if (err) reject(err);
        else resolve(Buffer.concat(this.chunks, size));
      };
      this.waiter = () => {
        if (this.length > size) finish(new Error(`read ${this.length} bytes, expected ${size}`));
        else if (this.length === size) finish();
        else if (this.disconnected !== undefined) finish(new Error(`Disconnect "${this.disconnected}" after ${this.length} of ${size} bytes`));
      };
      this.waiter();
    });
  }

  close(): void {
    if (this.link.sinks.delete(this.channelId)) this.link.send({ type: 'disconnect', channelId: this.channelId, error: '' });
  }
}

/** Opens a channel as its owner: Connect (0x02), then waits for the ConnectResponse. */
async function openStream(link: NewestLink, host: string, port: number): Promise<NewestStream> {
  const channelId = randomUUID();
  const stream = new NewestStream(link, channelId);
  link.send({ type: 'connect', protocol: 'tcp', channelId, address: host, port });
  for (const frame of channelNoise(channelId, 0n).slice(0, 1)) link.sendFrame(frame);
  const response = await link.next((m) => m.type === 'connectResponse' && m.channelId === channelId, 15_000, 'ConnectResponse');
  if (response.type !== 'connectResponse' || !response.success) {
    throw new Error(`connect failed: ${response.type === 'connectResponse' ? response.error : response.type}`);
  }
  return stream;
}

/** Sends a Connect with the Resume byte and collects whatever answers it within `waitMs`. */
async function resumeUnknown(link: NewestLink, channelId: string, host: string, port: number): Promise<Message> {
  link.sendFrame(newestFrame({ type: 'connect', protocol: 'tcp', channelId, address: host, port, resume: true }));
  return link.next((m) => (m.type === 'disconnect' || m.type === 'connectResponse') && m.channelId === channelId, 10_000, 'answer to Resume');
}

/** Dials a target for a Connect and pipes it (newest dialing side; a Resume never dials). */
function dialFor(link: NewestLink, msg: ConnectMessage, onDial: () => void): void {
  if (msg.resume) return; // the newest provider only logs a Resume it cannot place
  onDial();
  const socket = net.connect({ host: msg.address, port: msg.port, allowHalfOpen: false });
  socket.once('connect', () => {
    link.send({ type: 'connectResponse', success: true, channelId: msg.channelId, error: '' });
    link.pipe(msg.channelId, socket);
  });
  socket.once('error', (err) => {
    if (!link.sinks.has(msg.channelId)) link.send({ type: 'connectResponse', success: false, channelId: msg.channelId, error: err.message });
  });
}

// ---------------------------------------------------------------------------------------------
// Clients

export interface NewestClientOptions {
  url: string;
  token: string;
  reverse?: boolean;
  /** 'message': an Auth frame on `/socket/`; 'query': parameters on `/socket` (default). */
  auth?: 'query' | 'message';
}

/** A newest client: forward client, connector or provider (reverse). */
export class NewestClient {
  /** Connects a provider dialled for the server (emulated provider role). */
  dials = 0;
  private constructor(readonly link: NewestLink) {}

  static async connect(options: NewestClientOptions): Promise<NewestClient> {
    const reverse = options.reverse ?? false;
    const instance = randomUUID();
    const base = options.url.replace(/\/+$/, '');
    const url =
      options.auth === 'message'
        ? `${base}/socket/`
        : `${base}/socket?instance=${instance}&reverse=${reverse}&token=${sha256Hex(options.token)}`;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const link = new NewestLink(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    if (options.auth === 'message') link.send({ type: 'auth', token: options.token, reverse, instance });
    const response = await link.next((m) => m.type === 'authResponse', 10_000, 'AuthResponse');
    if (response.type !== 'authResponse' || !response.success) {
      await link.close();
      throw new Error(`authentication failed: ${response.type === 'authResponse' ? response.error : response.type}`);
    }
    for (const frame of clientGreeting(randomUUID())) link.sendFrame(frame);
    const client = new NewestClient(link);
    if (reverse) link.each((m) => m.type === 'connect', (m) => dialFor(link, m as ConnectMessage, () => (client.dials += 1)));
    return client;
  }

  get violations(): string[] {
    return this.link.violations;
  }

  open(host: string, port: number): Promise<NewestStream> {
    return openStream(this.link, host, port);
  }

  resumeUnknown(host: string, port: number, channelId = randomUUID()): Promise<Message> {
    return resumeUnknown(this.link, channelId, host, port);
  }

  /** Autonomy provider: asks the server to add a connector token. */
  async addConnector(token: string): Promise<string> {
    const channelId = randomUUID();
    this.link.send({ type: 'connector', channelId, connectorToken: token, operation: 'add' });
    const response = await this.link.next((m) => m.type === 'connectorResponse' && m.channelId === channelId, 10_000, 'ConnectorResponse');
    if (response.type !== 'connectorResponse' || !response.success) throw new Error('connector add refused');
    return response.connectorToken;
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Server

export interface NewestServerOptions {
  forwardToken?: string;
  reverseToken?: string;
  /** Agent mode: a connector token mapped to the reverse token. */
  connectorToken?: string;
  /** Autonomy: providers of the reverse token may add connector tokens of their own. */
  autonomy?: boolean;
  /** Providers get this token appended to their AuthResponse (linksocks.js style), and may use it. */
  assignProviderToken?: string;
}

interface Session {
  link: NewestLink;
  token: string;
  role: 'forward' | 'provider' | 'connector';
}

/**
 * A newest server: forward mode dials targets; providers serve `openViaProvider` (the server's
 * own SOCKS side, scripted) and connectors (agent and autonomy), with every message re-encoded
 * the newest way (0x02, fresh sequences).
 */
export class NewestServer {
  /** Tokens clients authenticated with, in order (the assigned token shows up after a reconnect). */
  readonly authenticated: string[] = [];
  readonly sessions: Session[] = [];
  /** Connect frames a connector's Resume made the server send to a provider (must stay 0). */
  dials = 0;
  private readonly connectorTokens = new Map<string, string>();
  private readonly sockets = new Set<net.Socket>();
  private nextProvider = 0;

  private constructor(
    private readonly http: http.Server,
    private readonly wss: WebSocketServer,
    private readonly options: NewestServerOptions,
  ) {
    if (options.connectorToken && options.reverseToken) this.connectorTokens.set(options.connectorToken, options.reverseToken);
  }

  static async start(options: NewestServerOptions): Promise<NewestServer> {
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 32 * 1024 * 1024 });
    const newest = new NewestServer(server, wss, options);
    server.on('connection', (socket: net.Socket) => {
      newest.sockets.add(socket);
      socket.once('close', () => newest.sockets.delete(socket));
    });
    server.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket as net.Socket, head, (ws) => newest.onWebSocket(ws, req.url ?? '/'));
    });
    await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
    return newest;
  }

  get url(): string {
    return `ws://${LOCALHOST}:${(this.http.address() as AddressInfo).port}`;
  }

  get violations(): string[] {
    return this.sessions.flatMap((s) => s.link.violations);
  }

  hasConnector(token: string): boolean {
    return this.connectorTokens.has(token);
  }

  providers(): NewestLink[] {
    return this.sessions.filter((s) => s.role === 'provider' && s.link.isOpen).map((s) => s.link);
  }

  /** The server's own side of a reverse channel: Connect through a provider. */
  openViaProvider(host: string, port: number): Promise<NewestStream> {
    return openStream(this.pickProvider(), host, port);
  }

  /** Resume of a channel the provider never saw (what a newest server sends after a reconnect). */
  resumeViaProvider(host: string, port: number): Promise<Message> {
    return resumeUnknown(this.pickProvider(), randomUUID(), host, port);
  }

  /** Sends a liveness probe to a provider and resolves with its pong text. */
  async probe(): Promise<string> {
    const link = this.pickProvider();
    link.sendFrame(logFrame('trace', PROBE));
    const pong = await link.next((m) => m.type === 'log' && m.msg.startsWith('pong:'), 10_000, 'pong');
    return pong.type === 'log' ? `${pong.level} ${pong.msg}` : '';
  }

  /** Drops every provider's TCP connection without a close frame. */
  dropProviders(): void {
    for (const link of this.providers()) link.ws.terminate();
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.link.ws.terminate();
    for (const socket of this.sockets) socket.destroy();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private pickProvider(): NewestLink {
    const providers = this.providers();
    if (providers.length === 0) throw new Error('no provider connected');
    this.nextProvider = (this.nextProvider + 1) % providers.length;
    return providers[this.nextProvider]!;
  }

  private onWebSocket(ws: WebSocket, path: string): void {
    const link = new NewestLink(ws);
    const query = new URL(path, 'http://x').searchParams;
    const hash = query.get('token');
    if (hash !== null) {
      this.onAuth(link, this.tokenForHash(hash), query.get('reverse') === 'true');
      return;
    }
    void link.next((m) => m.type === 'auth', 10_000, 'Auth').then(
      (msg) => msg.type === 'auth' && this.onAuth(link, msg.token, msg.reverse),
      () => link.close(),
    );
  }

  private knownTokens(): string[] {
    const o = this.options;
    return [o.forwardToken, o.reverseToken, o.assignProviderToken, ...this.connectorTokens.keys()].filter((t): t is string => !!t);
  }

  private tokenForHash(hash: string): string {
    return this.knownTokens().find((t) => sha256Hex(t) === hash) ?? '';
  }

  private onAuth(link: NewestLink, token: string, reverse: boolean): void {
    const o = this.options;
    let role: Session['role'] | undefined;
    if (reverse && (token === o.reverseToken || (token !== '' && token === o.assignProviderToken))) role = 'provider';
    else if (!reverse && token === o.forwardToken) role = 'forward';
    else if (!reverse && this.connectorTokens.has(token)) role = 'connector';
    if (!role) {
      link.sendFrame(newestFrame({ type: 'authResponse', success: false, error: 'invalid token' }));
      void link.close();
      return;
    }
    this.authenticated.push(token);
    const session: Session = { link, token, role };
    this.sessions.push(session);
    if (role === 'provider' && o.assignProviderToken) link.sendFrame(authSuccessWithToken(o.assignProviderToken));
    else link.send({ type: 'authResponse', success: true, error: '' });
    link.sendFrame(logFrame('debug', SERVER_HELLO));
    for (const frame of clientGreeting(randomUUID()).slice(1)) link.sendFrame(frame);
    if (role === 'connector') link.send({ type: 'partners', count: this.providers().length });
    this.serve(session);
  }

  private serve(session: Session): void {
    const { link } = session;
    link.each(
      (m) => m.type === 'connect' || m.type === 'connector',
      (msg) => {
        if (msg.type === 'connector' && session.role === 'provider' && this.options.autonomy) {
          const token = msg.connectorToken || randomUUID();
          this.connectorTokens.set(token, session.token);
          link.send({ type: 'connectorResponse', success: true, channelId: msg.channelId, error: '', connectorToken: token });
        } else if (msg.type === 'connect' && session.role === 'forward') {
          dialFor(link, msg, () => undefined);
        } else if (msg.type === 'connect' && session.role === 'connector') {
          this.route(link, msg);
        }
      },
    );
  }

  /** Agent mode: joins the connector's channel to a provider, re-encoding every message the newest way. */
  private route(connector: NewestLink, msg: ConnectMessage): void {
    if (msg.resume) {
      connector.send({ type: 'disconnect', channelId: msg.channelId, error: 'channel expired' });
      return;
    }
    const provider = this.providers()[0];
    if (!provider) {
      connector.send({ type: 'connectResponse', success: false, channelId: msg.channelId, error: 'no available reverse clients' });
      return;
    }
    const { channelId } = msg;
    this.dials += 1;
    provider.send({ type: 'connect', protocol: 'tcp', channelId, address: msg.address, port: msg.port });
    connector.sinks.set(channelId, {
      onData: (data) => provider.sendData(channelId, data),
      onDisconnect: (error) => provider.send({ type: 'disconnect', channelId, error }),
    });
    provider.sinks.set(channelId, {
      onData: (data) => connector.sendData(channelId, data),
      onDisconnect: (error) => connector.send({ type: 'disconnect', channelId, error }),
    });
    void provider.next((m) => m.type === 'connectResponse' && m.channelId === channelId, 15_000, 'ConnectResponse').then(
      (response) => connector.send(response as OutgoingMessage),
      () => connector.send({ type: 'connectResponse', success: false, channelId, error: 'timeout' }),
    );
  }
}
