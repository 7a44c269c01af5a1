/**
 * SOCKS5 server (RFC 1928 CONNECT and UDP ASSOCIATE, RFC 1929 username/password), optionally also
 * an HTTP proxy on the same port (CONNECT, and forwarded `GET http://…` requests: one connect
 * request per origin, see http-proxy.ts). It only speaks the protocols: every parsed request goes
 * to the `onRequest` callback, which decides (accept / reject). Behaviour: ../shared/spec/MODES.md §7.
 */
import { EventEmitter } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { LOOPBACK_HOST } from '../defaults.js';
import { CredentialChecker, credentialsRequired } from './credentials.js';
import { Socks5Error } from './errors.js';
import { Handshake, type HandshakeResult } from './handshake.js';
import { DEFAULT_HTTP_KEEP_ALIVE_MS, HttpProxySession } from './http-proxy.js';
import { createConnectRequest, createUdpRequest, type PendingRequest } from './requests.js';
import { ignoreSocketError } from './socket-util.js';
import { Reply, type SocksRequest, type Socks5ServerOptions } from './types.js';
import { UdpRelay } from './udp-association.js';
import { Command } from './wire.js';

export const DEFAULT_SOCKS_HOST = LOOPBACK_HOST;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;
export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 5 * 60_000;

/** Where a handshake problem happened, for debug logs. */
export interface HandshakeErrorInfo {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
}

export interface Socks5ServerEvents {
  /** The listener failed after listen() resolved (errors during listen() reject it instead). */
  error: [err: Error];
  /** A client was turned away or misbehaved during the handshake; the server keeps serving. */
  handshakeError: [err: Socks5Error, info: HandshakeErrorInfo];
}

export class Socks5Server extends EventEmitter<Socks5ServerEvents> {
  private readonly server: net.Server;
  /** Sockets we still own: in handshake, or draining after a failure reply. */
  private readonly handshaking = new Set<Socket>();
  private readonly credentials: CredentialChecker | null;
  private readonly host: string;
  private readonly port: number;
  private readonly handshakeTimeoutMs: number;
  private readonly udpIdleTimeoutMs: number;
  private readonly httpConnect: boolean;
  private readonly httpKeepAliveTimeoutMs: number;
  /** HTTP proxy connections (absolute-form requests), which this server keeps serving. */
  private readonly httpSessions = new Set<HttpProxySession>();
  private closing: Promise<void> | undefined;

  constructor(
    options: Socks5ServerOptions,
    private readonly onRequest: (req: SocksRequest) => void,
  ) {
    super();
    this.host = options.host ?? DEFAULT_SOCKS_HOST;
    this.port = options.port;
    this.credentials = credentialsRequired(options.credentials) ? new CredentialChecker(options.credentials, options.sessionTags ?? false) : null;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.udpIdleTimeoutMs = options.udpIdleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    this.httpConnect = options.httpConnect ?? true;
    this.httpKeepAliveTimeoutMs = options.httpKeepAliveTimeoutMs ?? DEFAULT_HTTP_KEEP_ALIVE_MS;
    // allowHalfOpen: the relay forwards a client's FIN and keeps sending the other direction.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.onConnection(socket));
  }

  listen(): Promise<AddressInfo> {
    return new Promise<AddressInfo>((resolve, reject) => {
      const onListenError = (err: Error): void => reject(err);
      this.server.once('error', onListenError);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', onListenError);
        this.server.on('error', (err) => this.emit('error', err));
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    const address = this.server.address();
    return address !== null && typeof address === 'object' ? address : null;
  }

  /**
   * Stops listening and destroys every socket still in handshake. Sockets already handed to
   * onRequest belong to the caller and are left alone (so this does not wait for them). HTTP
   * proxy connections close when idle, busy ones after their current response.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // net.Server#close() closes the listening handle at once; its callback would also wait for
      // the handed-over connections, which are not ours to wait for.
      if (this.server.listening) this.server.close(() => undefined);
      for (const session of this.httpSessions) session.shutdown();
      const closed = [...this.handshaking].map(
        (socket) => new Promise<void>((resolve) => {
          socket.once('close', () => resolve());
          socket.destroy();
        }),
      );
      await Promise.all(closed);
    })();
    return this.closing;
  }

  private onConnection(socket: Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.on('error', ignoreSocketError);
    this.handshaking.add(socket);
    socket.once('close', () => this.handshaking.delete(socket));
    const info: HandshakeErrorInfo = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
    const handshake = new Handshake(
      socket,
      { credentials: this.credentials, httpConnect: this.httpConnect, timeoutMs: this.handshakeTimeoutMs },
      {
        onComplete: (result) => {
          this.handshaking.delete(socket);
          this.dispatch(socket, result, info);
        },
        onFailure: (err) => this.emit('handshakeError', err, info),
      },
    );
    handshake.start();
  }

  private dispatch(socket: Socket, result: HandshakeResult, info: HandshakeErrorInfo): void {
    let pending: PendingRequest<SocksRequest>;
    if (result.protocol === 'http-proxy') {
      this.serveHttpProxy(socket, result.head, info);
      return;
    }
    if (result.protocol === 'http-connect') {
      const { identity, ...rest } = result;
      pending = createConnectRequest({ ...rest, socket, ...identity });
    } else if (result.request.command === Command.Connect) {
      const { host, port, addressType } = result.request;
      pending = createConnectRequest({ protocol: 'socks5', socket, host, port, addressType, head: result.head, ...result.identity });
    } else {
      pending = createUdpRequest({
        socket,
        host: result.request.host,
        port: result.request.port,
        associate: () => this.associate(socket),
      });
    }
    this.submit(pending, info);
  }

  private submit(pending: PendingRequest<SocksRequest>, info: HandshakeErrorInfo): void {
    try {
      this.onRequest(pending.request);
    } catch (err) {
      this.emit('handshakeError', new Socks5Error('ERR_SOCKS5_HANDLER', 'onRequest threw', { cause: err }), info);
      if (!pending.answered()) pending.request.reject(Reply.GeneralFailure);
    }
  }

  /** Absolute-form HTTP requests: each origin comes back through submit() as a connect request. */
  private serveHttpProxy(socket: Socket, head: Buffer, info: HandshakeErrorInfo): void {
    const session: HttpProxySession = new HttpProxySession(
      socket,
      head,
      { credentials: this.credentials, firstHeadTimeoutMs: this.handshakeTimeoutMs, keepAliveTimeoutMs: this.httpKeepAliveTimeoutMs },
      {
        submit: (pending) => this.submit(pending, info),
        onError: (err) => this.emit('handshakeError', err, info),
        onDone: () => this.httpSessions.delete(session),
      },
    );
    this.httpSessions.add(session);
    session.start();
    if (this.closing !== undefined) session.shutdown();
  }

  private async associate(control: Socket): Promise<{ association: UdpRelay; boundHost: string; boundPort: number }> {
    const listener = this.address();
    if (listener === null) throw new Socks5Error('ERR_SOCKS5_UDP_BIND', 'server is not listening');
    const family = listener.family === 'IPv6' ? 6 : 4;
    const relay = await UdpRelay.open(control, {
      bindHost: listener.address,
      family,
      idleTimeoutMs: this.udpIdleTimeoutMs,
    });
    const bound = relay.address();
    // A wildcard listener binds the relay on all interfaces; tell the client the address it
    // already reaches us at instead of 0.0.0.0 / ::.
    const unspecified = bound.address === '0.0.0.0' || bound.address === '::';
    return { association: relay, boundHost: unspecified ? (control.localAddress ?? bound.address) : bound.address, boundPort: bound.port };
  }
}
