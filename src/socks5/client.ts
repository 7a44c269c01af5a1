/**
 * A small SOCKS5 client for dialling through an upstream proxy (../shared/spec/MODES.md §8.4):
 * one offered method (username/password when both are set, else no-auth), CONNECT with IP
 * literals as ATYP 1/4 and names as ATYP 3, and UDP ASSOCIATE (the relay end is in udp-client.ts). The whole
 * exchange, TCP connect included, is bounded by `timeoutMs` and can be cancelled with `signal`.
 */
import dns from 'node:dns';
import net, { type Socket } from 'node:net';
import { encodeAddress, readAddress, type SocksAddress } from './address.js';
import { Socks5Error } from './errors.js';
import { ByteAccumulator, type ParseStep } from './handshake-parser.js';
import { ignoreSocketError } from './socket-util.js';
import { Reply } from './types.js';
import { bindRelaySocket, Socks5UdpRelay } from './udp-client.js';
import { Command, Method, SOCKS_VERSION, USERPASS_VERSION } from './wire.js';

/** Where the proxy is and how to log in; shared by CONNECT and UDP ASSOCIATE. */
export interface Socks5ProxyOptions {
  proxyHost: string;
  proxyPort: number;
  /** Used only when both username and password are non-empty (like Go). */
  username?: string;
  password?: string;
  /** Bound on TCP connect + handshake. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Socks5ConnectOptions extends Socks5ProxyOptions {
  targetHost: string;
  targetPort: number;
}

export interface Socks5Connection {
  /** Connected to the target through the proxy; paused (the caller resumes). allowHalfOpen is on. */
  socket: Socket;
  /** Bytes the proxy sent after its reply (target data that arrived early); deliver them first. */
  head: Buffer;
}

const REPLY_MEANINGS: Record<number, string> = {
  [Reply.GeneralFailure]: 'general SOCKS server failure',
  [Reply.NotAllowed]: 'connection not allowed by ruleset',
  [Reply.NetworkUnreachable]: 'network unreachable',
  [Reply.HostUnreachable]: 'host unreachable',
  [Reply.ConnectionRefused]: 'connection refused',
  [Reply.TtlExpired]: 'TTL expired',
  [Reply.CommandNotSupported]: 'command not supported',
  [Reply.AddressTypeNotSupported]: 'address type not supported',
};

/** Human-readable meaning of a SOCKS5 reply code (RFC 1928 §6). */
export function describeReply(code: number): string {
  return code === Reply.Succeeded ? 'succeeded' : (REPLY_MEANINGS[code] ?? `unassigned reply code ${code}`);
}

export async function socks5Connect(options: Socks5ConnectOptions): Promise<Socks5Connection> {
  const target = encodeTarget(options.targetHost, options.targetPort);
  const { socket, head } = await socks5Command(options, Command.Connect, target, 'connect');
  return { socket, head };
}

/** Outcome of a successful command: the control socket (paused) and the reply's BND address. */
export interface Socks5CommandResult {
  socket: Socket;
  bound: SocksAddress;
  /** Bytes the proxy sent after its reply. */
  head: Buffer;
}

/**
 * Connects to the proxy, negotiates the method (and logs in), sends one command and reads its
 * reply. `label` names the command in error texts (`socks5 ${label} failed: …`).
 */
export async function socks5Command(options: Socks5ProxyOptions, command: number, destination: Buffer, label: string): Promise<Socks5CommandResult> {
  const auth = encodeAuth(options.username, options.password);
  const socket = net.connect({ host: options.proxyHost, port: options.proxyPort, allowHalfOpen: true, noDelay: true });
  const session = new ClientSession(socket, options, label);
  try {
    await session.connected();
    socket.write(Buffer.from([SOCKS_VERSION, 1, auth === null ? Method.NoAuth : Method.UserPass]));
    const method = await session.read(parseMethodSelection);
    if (method === Method.UserPass && auth !== null) {
      socket.write(auth);
      const status = await session.read(parseAuthStatus);
      if (status !== 0) throw new Socks5Error('ERR_SOCKS5_AUTH_FAILED', 'socks5 proxy rejected the username/password');
    } else if (method !== Method.NoAuth) {
      // A proxy that skips authentication we offered is accepted, as Go does.
      throw new Socks5Error('ERR_SOCKS5_UNSUPPORTED_METHOD', `socks5 proxy chose unsupported auth method: ${method}`);
    }
    socket.write(Buffer.concat([Buffer.from([SOCKS_VERSION, command, 0x00]), destination]));
    const bound = await session.read((buf) => parseCommandReply(buf, label));
    return { socket, bound, head: session.finish() };
  } catch (err) {
    session.abandon();
    throw err;
  }
}

function encodeTarget(host: string, port: number): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw new Socks5Error('ERR_SOCKS5_INVALID_ARGUMENT', `invalid target port: ${port}`);
  }
  return encodeAddress(host, port);
}

/** RFC 1929 request, or null when no credentials are to be used. */
function encodeAuth(username: string | undefined, password: string | undefined): Buffer | null {
  if (!username || !password) return null;
  const user = Buffer.from(username, 'utf8');
  const pass = Buffer.from(password, 'utf8');
  if (user.length > 255 || pass.length > 255) {
    throw new Socks5Error('ERR_SOCKS5_INVALID_ARGUMENT', 'socks5 username and password are limited to 255 bytes each');
  }
  return Buffer.concat([Buffer.from([USERPASS_VERSION, user.length]), user, Buffer.from([pass.length]), pass]);
}

function parseMethodSelection(buf: Buffer): ParseStep<number> {
  if (buf.length < 2) return { status: 'incomplete' };
  if (buf[0] !== SOCKS_VERSION) return badVersion(buf[0]!);
  if (buf[1] === Method.NoAcceptable) {
    return { status: 'invalid', error: new Socks5Error('ERR_SOCKS5_NO_ACCEPTABLE_METHOD', 'socks5 proxy accepted none of the offered auth methods') };
  }
  return { status: 'complete', value: buf[1]!, length: 2 };
}

function parseAuthStatus(buf: Buffer): ParseStep<number> {
  if (buf.length < 2) return { status: 'incomplete' };
  if (buf[0] !== USERPASS_VERSION) {
    return { status: 'invalid', error: new Socks5Error('ERR_SOCKS5_AUTH_VERSION', `unexpected auth reply version: ${buf[0]}`) };
  }
  return { status: 'complete', value: buf[1]!, length: 2 };
}

/** `VER REP RSV ATYP BND.ADDR BND.PORT`; a failure is reported as soon as REP is known. */
function parseCommandReply(buf: Buffer, label: string): ParseStep<SocksAddress> {
  if (buf.length < 2) return { status: 'incomplete' };
  if (buf[0] !== SOCKS_VERSION) return badVersion(buf[0]!);
  const rep = buf[1]!;
  if (rep !== Reply.Succeeded) {
    return {
      status: 'invalid',
      error: new Socks5Error('ERR_SOCKS5_CONNECT_FAILED', `socks5 ${label} failed: ${describeReply(rep)} (0x${rep.toString(16).padStart(2, '0')})`, { reply: rep }),
    };
  }
  if (buf.length < 4) return { status: 'incomplete' };
  const bound = readAddress(buf, 3);
  if (bound.status !== 'complete') return bound;
  return { status: 'complete', value: bound.address, length: bound.end };
}

function badVersion(version: number): { status: 'invalid'; error: Socks5Error } {
  return { status: 'invalid', error: new Socks5Error('ERR_SOCKS5_VERSION', `unexpected socks version in reply: ${version}`) };
}

/**
 * Reads the proxy's replies off one socket and turns every way the exchange can end early
 * (timeout, abort, socket error, EOF) into a Socks5Error for whichever step is waiting.
 */
class ClientSession {
  private readonly input = new ByteAccumulator();
  private failure: Socks5Error | null = null;
  private isConnected = false;
  private wake: (() => void) | null = null;
  private readonly timer: NodeJS.Timeout;

  private readonly onData = (chunk: Buffer): void => {
    this.input.push(chunk);
    this.notify();
  };
  private readonly onConnect = (): void => {
    this.isConnected = true;
    this.notify();
  };
  private readonly onError = (err: Error): void => {
    this.fail(
      this.isConnected
        ? new Socks5Error('ERR_SOCKS5_SOCKET', `socks5 proxy connection error: ${err.message}`, { cause: err })
        : new Socks5Error('ERR_SOCKS5_PROXY_CONNECT', `cannot connect to socks5 proxy ${this.options.proxyHost}:${this.options.proxyPort}: ${err.message}`, { cause: err }),
    );
  };
  private readonly onEnd = (): void => this.fail(new Socks5Error('ERR_SOCKS5_PROXY_CLOSED', 'socks5 proxy closed the connection during the handshake'));
  private readonly onAbort = (): void => this.fail(new Socks5Error('ERR_SOCKS5_ABORTED', `socks5 ${this.label} aborted`));

  constructor(
    private readonly socket: Socket,
    private readonly options: Socks5ProxyOptions,
    private readonly label: string,
  ) {
    this.timer = setTimeout(
      () => this.fail(new Socks5Error('ERR_SOCKS5_TIMEOUT', `socks5 ${label} via ${options.proxyHost}:${options.proxyPort} timed out after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    socket.on('connect', this.onConnect);
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    if (options.signal?.aborted) this.onAbort();
    else options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  async connected(): Promise<void> {
    while (!this.isConnected) {
      if (this.failure !== null) throw this.failure;
      await this.waitForChange();
    }
  }

  async read<T>(parse: (buf: Buffer) => ParseStep<T>): Promise<T> {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      const step = this.input.read(parse);
      if (step.status === 'complete') return step.value;
      if (step.status === 'invalid') throw step.error;
      await this.waitForChange();
    }
  }

  /** Success: stop watching, pause, hand over the socket with what was read beyond the reply. */
  finish(): Buffer {
    this.detach();
    this.socket.on('error', ignoreSocketError);
    this.socket.pause();
    return this.input.takeRest();
  }

  /** Failure: stop watching and close the socket. */
  abandon(): void {
    this.detach();
    this.socket.on('error', () => undefined);
    this.socket.destroy();
  }

  private detach(): void {
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.socket.off('connect', this.onConnect);
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
  }

  private fail(error: Socks5Error): void {
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private waitForChange(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }
}

/** Opens a UDP association on the proxy (DST 0.0.0.0:0: our source port is not known in advance). */
export async function socks5UdpAssociate(options: Socks5ProxyOptions): Promise<Socks5UdpRelay> {
  const { socket, bound } = await socks5Command(options, Command.UdpAssociate, encodeAddress('0.0.0.0', 0), 'udp associate');
  try {
    if (options.signal?.aborted) throw new Socks5Error('ERR_SOCKS5_ABORTED', 'socks5 udp associate aborted');
    // 0.0.0.0 / :: means "where you reached me": the address the control connection went to.
    // A name (ATYP 3) is resolved here; rare, but allowed by RFC 1928.
    let relayHost = bound.host;
    if (relayHost === '0.0.0.0' || relayHost === '::') relayHost = socket.remoteAddress ?? options.proxyHost;
    if (net.isIP(relayHost) === 0) relayHost = (await dns.promises.lookup(relayHost)).address;
    if (bound.port === 0) throw new Socks5Error('ERR_SOCKS5_BAD_ADDRESS', 'socks5 proxy announced UDP relay port 0');
    let udp;
    try {
      udp = await bindRelaySocket(relayHost, socket);
    } catch (err) {
      throw new Socks5Error('ERR_SOCKS5_UDP_BIND', `cannot bind local UDP socket: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (socket.destroyed) {
      udp.close();
      throw new Socks5Error('ERR_SOCKS5_PROXY_CLOSED', 'socks5 proxy closed the control connection');
    }
    return new Socks5UdpRelay(socket, udp, relayHost, bound.port);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
