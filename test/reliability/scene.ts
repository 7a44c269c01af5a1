// What a reliability test started (servers, clients, cuttable pipes, SOCKS sockets, raw peers),
// torn down after it whatever happened, then checked for leftover sockets and servers.
import net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import { assertNoLeakedHandles, snapshotResources } from '../helpers/leaks.js';
import type { ResourceSnapshot } from '../helpers/leaks.js';
import { LOCALHOST } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { socksConnect } from '../helpers/socks.js';
import { startCutProxy } from './rig.js';
import type { CutProxy, RawPeer } from './rig.js';

/** Options every server and client of a suite starts with (a test's own options win). */
export interface SceneDefaults {
  server?: LinkSocksServerOptions;
  client?: Partial<LinkSocksClientOptions>;
}

export class Scene {
  readonly servers: LinkSocksServer[] = [];
  readonly clients: LinkSocksClient[] = [];
  readonly proxies: CutProxy[] = [];
  readonly sockets: net.Socket[] = [];
  readonly peers: RawPeer[] = [];
  /** Anything else to close (targets, black holes), before the leak check. */
  readonly extra: Array<{ close(): Promise<void> }> = [];
  /** The suite's echo target, when it has one (closed last). */
  echo!: EchoServer;
  /** Taken before the test starts anything; close() fails if a socket or server outlives it. */
  private readonly handles: ResourceSnapshot = snapshotResources();

  constructor(private readonly defaults: SceneDefaults = {}) {}

  async server(options: LinkSocksServerOptions = {}): Promise<LinkSocksServer> {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, ...this.defaults.server, ...options });
    this.servers.push(server);
    await server.start();
    return server;
  }

  async client(options: LinkSocksClientOptions): Promise<LinkSocksClient> {
    const client = new LinkSocksClient({ socksPort: 0, ...this.defaults.client, ...options });
    this.clients.push(client);
    await client.start();
    return client;
  }

  /** A cuttable pipe in front of the server's WebSocket port. */
  async proxy(server: LinkSocksServer): Promise<CutProxy> {
    const proxy = await startCutProxy(server.address().port);
    this.proxies.push(proxy);
    return proxy;
  }

  /** A SOCKS5 connection through `proxyPort` to the target (the echo server unless named). */
  async socks(proxyPort: number, targetPort = this.echo.port): Promise<net.Socket> {
    const socket = await socksConnect({ proxyPort, host: LOCALHOST, port: targetPort });
    socket.on('error', () => undefined);
    this.sockets.push(socket);
    return socket;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const p of this.peers) p.ws.terminate();
    await Promise.all(this.clients.map((c) => c.close()));
    await Promise.all(this.servers.map((s) => s.close()));
    await Promise.all(this.proxies.map((p) => p.close()));
    await Promise.all(this.extra.map((e) => e.close()));
    if (this.echo) await this.echo.close();
    await assertNoLeakedHandles(this.handles, { graceMs: 3000 });
  }
}
