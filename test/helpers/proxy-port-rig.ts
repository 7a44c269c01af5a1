// A server and the client that owns the port under test, for suites that drive the SOCKS port
// with other protocols (HTTP CONNECT, plain HTTP proxy requests): forward mode puts the port on the
// client, reverse mode on the server, with the provider joined.
import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import type { ReverseTokenOptions } from '../../src/server/tokens.js';
import { LOCALHOST } from './net.js';
import { waitForDefined } from './wait.js';

export interface ProxyPortRig {
  server: LinkSocksServer;
  clients: LinkSocksClient[];
  /** The port under test: the client's SOCKS port (forward) or the token's port (reverse). */
  proxyPort: number;
}

export async function forwardRig(clientOptions: LinkSocksClientOptions = {}): Promise<ProxyPortRig> {
  const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
  server.addForwardToken('fwd');
  await server.start();
  const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'fwd', socksPort: 0, ...clientOptions });
  const rig: ProxyPortRig = { server, clients: [client], proxyPort: 0 };
  await client.start();
  rig.proxyPort = client.socksAddress()!.port;
  return rig;
}

export async function reverseRig(token: Omit<ReverseTokenOptions, 'token' | 'port'> = {}, serverOptions: LinkSocksServerOptions = {}): Promise<ProxyPortRig> {
  const server = new LinkSocksServer({ host: LOCALHOST, port: 0, ...serverOptions });
  server.addReverseToken({ token: 'rev', port: 0, ...token });
  await server.start();
  const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'rev', reverse: true });
  const rig: ProxyPortRig = { server, clients: [provider], proxyPort: 0 };
  await provider.start();
  rig.proxyPort = (await waitForDefined(() => server.socksAddress('rev'), 'reverse SOCKS listener')).port;
  return rig;
}

export async function stopRig(rig: ProxyPortRig | undefined): Promise<void> {
  if (!rig) return;
  await Promise.all(rig.clients.map((c) => c.close()));
  await rig.server.close();
}
