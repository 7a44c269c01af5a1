/**
 * The SOCKS5 ports of reverse tokens, one ReverseListener per token, opened when the token's
 * first provider connects (as Go does) and closed with the token or the server.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { SocksSideOptions } from '../relay/socks-side.js';
import { openUdpSocksSide } from '../relay/udp-socks-side.js';
import type { ResolvedServerOptions } from './options.js';
import type { ProviderPool } from './provider-pool.js';
import { ReverseListener } from './reverse-listener.js';
import type { ReverseTokenRecord } from './tokens.js';
import type { DestinationCheck } from '../access/guard.js';
import type { ChannelLease, ChannelRefusal } from './channel-gate.js';
import type { TrafficMeter } from '../relay/meter.js';

export interface ReverseListenersOptions {
  server: ResolvedServerOptions;
  /** How channels of these ports are carried (observer, payload size, fast open). */
  channel: SocksSideOptions;
  /** Transport grace for the channels of a token's port (undefined: off). */
  graceFor?: (token: string) => SocksSideOptions['grace'];
  poolFor: (token: string) => ProviderPool;
  /** A token's port could not be bound. */
  onListenError: (token: string, error: Error) => void;
  /** Entry checks of a token's port, read per request. */
  entryChecks?: (token: string) => readonly DestinationCheck[];
  /** [linksocks-ts] Token policy admission of each request on a token's port. */
  gate?: (token: string) => ChannelLease | ChannelRefusal;
  /** [linksocks-ts] The account a token's channels count on (and are rate-limited by). */
  meterFor?: (token: string) => TrafficMeter | undefined;
  logger: Logger;
}

export class ReverseListeners {
  private readonly listeners = new Map<string, ReverseListener>();

  constructor(private readonly options: ReverseListenersOptions) {}

  /** Opens the token's SOCKS5 port unless it is open already; a failure is reported, not thrown. */
  async open(record: ReverseTokenRecord): Promise<void> {
    const { server, logger } = this.options;
    let listener = this.listeners.get(record.token);
    const { entryChecks, gate } = this.options;
    if (!listener) {
      const credentials =
        record.username && record.password ? { username: record.username, password: record.password } : undefined;
      const meter = this.options.meterFor?.(record.token);
      const grace = this.options.graceFor?.(record.token);
      listener = new ReverseListener(this.options.poolFor(record.token), {
        host: server.socksHost,
        port: record.port,
        credentials,
        httpConnect: server.httpConnect,
        handshakeTimeoutMs: server.socksHandshakeTimeoutMs,
        providerWaitMs: server.providerWaitMs,
        channel: { ...this.options.channel, grace, meter },
        entryChecks: entryChecks && (() => entryChecks(record.token)),
        gate: gate && (() => gate(record.token)),
        checkTimeoutMs: server.connectTimeoutMs,
        udp: (link, req) => openUdpSocksSide(link, req, { ...this.options.channel, grace, meter }),
        logger,
      });
      this.listeners.set(record.token, listener);
    }
    try {
      const address = await listener.listen();
      logger.debug({ port: address.port }, 'SOCKS5 listener started');
    } catch (err) {
      // Go only logs this at debug level; an unusable port must not go unnoticed.
      const error = err instanceof Error ? err : new Error(String(err));
      logger.error({ port: record.port, err: error.message }, 'cannot open SOCKS5 listener');
      this.listeners.delete(record.token);
      this.options.onListenError(record.token, error);
    }
  }

  /** The bound address of a token's port, once a provider has opened it. */
  address(token: string): AddressInfo | undefined {
    return this.listeners.get(token)?.address();
  }

  /** The token is gone: close its port. */
  closeFor(token: string): void {
    const listener = this.listeners.get(token);
    if (listener) {
      this.listeners.delete(token);
      void listener.close();
    }
  }

  /**
   * Stops accepting on every port (drain). The closed listeners stay registered, so a provider
   * that authenticated just before does not open its port again.
   */
  async stopAccepting(): Promise<void> {
    await Promise.all([...this.listeners.values()].map((listener) => listener.close()));
  }

  async closeAll(): Promise<void> {
    await this.stopAccepting();
    this.listeners.clear();
  }
}
