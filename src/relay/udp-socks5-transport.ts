/**
 * A dialing-side UDP channel carried by a UDP ASSOCIATE on a SOCKS5 upstream proxy (MODES.md
 * §8.4; Go always sends UDP directly): datagrams go to the proxy's relay with the target in the
 * SOCKS header, names included (the proxy resolves them, no local lookup), and replies come back
 * with the source the proxy reports. The association dies with its control connection.
 */
import { socks5UdpAssociate } from '../socks5/client.js';
import type { Socks5UdpRelay } from '../socks5/udp-client.js';
import type { UpstreamProxy } from './upstream.js';
import type { UdpTransport, UdpTransportHandlers, UdpTransportOpener } from './udp-transport.js';

/** Opens transports through `upstream` (a socks5 one); `timeoutMs` bounds TCP connect + handshake. */
export function socks5UdpTransport(upstream: UpstreamProxy, timeoutMs: number): UdpTransportOpener {
  return async (handlers) => {
    let relay: Socks5UdpRelay;
    try {
      relay = await socks5UdpAssociate({
        proxyHost: upstream.host,
        proxyPort: upstream.port,
        username: upstream.credentials?.username,
        password: upstream.credentials?.password,
        timeoutMs,
      });
    } catch (err) {
      throw new Error(`socks5 udp associate error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return new Socks5UdpTransport(relay, handlers);
  };
}

class Socks5UdpTransport implements UdpTransport {
  private closed = false;

  constructor(
    private readonly relay: Socks5UdpRelay,
    private readonly handlers: UdpTransportHandlers,
  ) {
    relay.on('message', (m) => {
      if (!this.closed) handlers.onDatagram(m.data, m.host, m.port);
    });
    relay.on('close', () => {
      if (!this.closed) handlers.onFailure('socks5 udp association closed by the proxy');
    });
  }

  send(host: string, port: number, data: Buffer): void {
    if (this.closed) return;
    // A send error concerns this datagram only.
    const sent = this.relay.send(host, port, data, (err) => {
      if (err && !this.closed) this.handlers.onDrop();
    });
    if (!sent) this.handlers.onDrop();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.relay.close();
  }
}
