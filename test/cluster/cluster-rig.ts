// In-process clusters for the cross-instance tests: N servers joined by a MemoryCluster, each
// with its own loopback address for reverse SOCKS ports (the port numbers are equal everywhere).
import { LinkSocksClient } from '../../src/client/client.js';
import { MemoryCluster } from '../../src/cluster/memory-directory.js';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { LOCALHOST } from '../helpers/net.js';

export const CLUSTER_SECRET = 'cluster-secret-for-tests';

export interface ClusterRig {
  readonly memory: MemoryCluster;
  readonly servers: LinkSocksServer[];
  readonly clients: LinkSocksClient[];
  /** The WebSocket URL of server i. */
  url(i: number): string;
  /** The loopback address of server i's reverse SOCKS ports. */
  socksHost(i: number): string;
  /** Starts a client against server i (stopped with the rig). */
  client(i: number, options: Omit<ConstructorParameters<typeof LinkSocksClient>[0], 'url'>): Promise<LinkSocksClient>;
  /** Adds the same tokens on every server (tokens are not shared in these tests). */
  everywhere(add: (server: LinkSocksServer) => void): void;
  stop(): Promise<void>;
}

export async function startCluster(count: number, options: LinkSocksServerOptions = {}): Promise<ClusterRig> {
  const memory = new MemoryCluster();
  const servers: LinkSocksServer[] = [];
  const clients: LinkSocksClient[] = [];
  for (let i = 0; i < count; i += 1) {
    const server = new LinkSocksServer({
      host: LOCALHOST,
      port: 0,
      socksHost: `127.0.0.${i + 2}`,
      providerWaitMs: 3000,
      ...options,
      cluster: { directory: memory.join(`node-${String.fromCharCode(97 + i)}`), secret: CLUSTER_SECRET },
    });
    await server.start();
    servers.push(server);
  }
  const url = (i: number): string => `ws://${LOCALHOST}:${servers[i]!.address().port}`;
  return {
    memory,
    servers,
    clients,
    url,
    socksHost: (i) => `127.0.0.${i + 2}`,
    async client(i, clientOptions) {
      const client = new LinkSocksClient({ url: url(i), socksPort: 0, ...clientOptions });
      clients.push(client);
      await client.start();
      return client;
    },
    everywhere(add) {
      for (const server of servers) add(server);
    },
    async stop() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
