import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { openSocksChannel } from '../relay/socks-side.js';
import type { SocksSideOptions } from '../relay/socks-side.js';
import { Socks5Server } from '../socks5/server.js';
import { Reply } from '../socks5/types.js';
import type { Socks5Credentials, SocksRequest } from '../socks5/types.js';
import type { ProviderPool } from './provider-pool.js';
import type { Link } from '../relay/link.js';
import type { SocksConnectRequest, SocksUdpRequest } from '../socks5/types.js';
import { checkDestinationWithin, type DestinationCheck } from '../access/guard.js';
import { CHANNEL_REFUSAL_TEXT, type ChannelLease, type ChannelRefusal } from './channel-gate.js';
import { joinHostPort } from '../relay/dial.js';

/** Opens the SOCKS side of a UDP association over a link (the UDP module). */
export type UdpSocksOpener = (link: Link, req: SocksUdpRequest) => void;

export interface ReverseListenerOptions {
  host: string;
  port: number;
  credentials?: Socks5Credentials;
  httpConnect: boolean;
  handshakeTimeoutMs: number;
  /** How long a SOCKS connection waits for a provider (Go: 10 s). */
  providerWaitMs: number;
  channel: SocksSideOptions;
  udp?: UdpSocksOpener;
  /**
   * Entry checks of this port, read per request (the token's rules, else the server-wide entry
   * rules). A refused request gets SOCKS reply 0x02 / HTTP 403 and never reaches a provider.
   */
  entryChecks?: () => readonly DestinationCheck[];
  /**
   * [linksocks-ts] Token policy, asked first for every request: a lease held until the request's
   * client stream closes, or a refusal (reply 0x02; HTTP 429 for the channel limit and the
   * quota, 403 when disabled).
   */
  gate?: () => ChannelLease | ChannelRefusal;
  /** Bound on the entry check's name resolution; default 10 s. */
  checkTimeoutMs?: number;
  logger: Logger;
}

/**
 * The SOCKS5 port of one reverse token: each accepted request is carried by the next provider of
 * the token (MODES.md §3).
 */
export class ReverseListener {
  private readonly server: Socks5Server;
  private listening: Promise<AddressInfo> | undefined;
  private closed = false;

  constructor(
    private readonly pool: ProviderPool,
    private readonly options: ReverseListenerOptions,
  ) {
    this.server = new Socks5Server(
      {
        host: options.host,
        port: options.port,
        credentials: options.credentials,
        httpConnect: options.httpConnect,
        handshakeTimeoutMs: options.handshakeTimeoutMs,
        // `NAME-session-TAG` logs in as NAME; TAG picks the provider under the sticky strategy.
        sessionTags: true,
      },
      (req) => this.onRequest(req),
    );
    this.server.on('error', (err: Error) => options.logger.warn({ err: err.message }, 'SOCKS5 listener error'));
  }

  /** Binds the port once; later calls share the first attempt. */
  listen(): Promise<AddressInfo> {
    this.listening ??= this.server.listen();
    return this.listening;
  }

  address(): AddressInfo | undefined {
    return this.server.address() ?? undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pool.cancelWaiters();
    if (this.listening) {
      await this.listening.catch(() => undefined);
      await this.server.close();
    }
  }

  private onRequest(req: SocksRequest): void {
    if (this.options.gate) {
      const lease = this.options.gate();
      if (typeof lease === 'string') {
        this.options.logger.debug({ port: this.options.port, reason: lease }, 'Request refused by token policy');
        if (req.command === 'connect') this.reportRefusal(req, CHANNEL_REFUSAL_TEXT[lease]);
        req.reject(Reply.NotAllowed, lease === 'disabled' ? undefined : 'limit');
        return;
      }
      holdUntilClosed(req, lease);
    }
    const checks = (this.options.entryChecks?.() ?? []).filter((check) => !check.policy.isOpen);
    if (checks.length === 0) {
      this.toProvider(req);
    } else if (req.command === 'connect') {
      void this.admit(req, checks);
    } else {
      // Datagrams are not checked one by one: with entry rules, UDP ASSOCIATE is refused.
      req.reject(Reply.NotAllowed);
    }
  }

  /** A request the port refused itself (never sent to a provider), for events, metrics and the audit log. */
  private reportRefusal(req: SocksConnectRequest, error: string): void {
    const { remoteAddress, remotePort } = req.socket;
    this.options.channel.observer?.connected?.({
      channelId: '',
      target: joinHostPort(req.host, req.port),
      source: {
        address: remoteAddress === undefined ? '' : joinHostPort(remoteAddress, remotePort ?? 0),
        ...(req.protocol !== undefined && { protocol: req.protocol }),
        ...(req.user !== undefined && { user: req.user }),
      },
      durationMs: 0,
      ok: false,
      error,
      reply: Reply.NotAllowed,
      refused: true,
    });
  }

  /** Runs the entry checks; the provider is sent the checked address, never the name again. */
  private async admit(req: SocksConnectRequest, checks: readonly DestinationCheck[]): Promise<void> {
    const result = await checkDestinationWithin(req.host, req.port, checks, this.options.checkTimeoutMs ?? 10_000);
    if (req.socket.destroyed) return;
    if (!result.allowed) {
      this.options.logger.debug({ port: req.port }, 'Request blocked by access control');
      req.reject(Reply.NotAllowed);
      return;
    }
    req.host = result.host;
    this.toProvider(req);
  }

  private toProvider(req: SocksRequest): void {
    const hint = req.command === 'connect' && req.session !== undefined ? { session: req.session } : {};
    this.pool.waitForProvider(this.options.providerWaitMs, hint).then((provider) => {
      if (!provider || this.closed) {
        req.reject(Reply.NetworkUnreachable);
        return;
      }
      if (req.command === 'connect') {
        openSocksChannel(provider, req, this.options.channel);
      } else if (this.options.udp) {
        this.options.udp(provider, req);
      } else {
        req.reject(Reply.CommandNotSupported);
      }
    }, () => req.reject(Reply.GeneralFailure));
  }
}

/**
 * Releases `lease` when the request ends: refused, or its client stream (the socket, or an HTTP
 * proxy origin's stream) closed, or a UDP association ended.
 */
function holdUntilClosed(req: SocksRequest, lease: ChannelLease): void {
  const release = (): void => {
    req.socket.off('close', release);
    lease.release();
  };
  req.socket.once('close', release);
  const reject = req.reject.bind(req);
  req.reject = (code, reason) => {
    release();
    reject(code, reason);
  };
  if (req.command === 'connect') {
    const accept = req.accept.bind(req);
    req.accept = () => {
      const stream = accept();
      if (stream.destroyed) release();
      else stream.once('close', release);
      return stream;
    };
  } else {
    const accept = req.accept.bind(req);
    req.accept = () => {
      const associating = accept();
      associating.then((association) => association.on('close', release), release);
      return associating;
    };
  }
}
