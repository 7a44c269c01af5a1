/**
 * The seam between cluster membership (who is alive, where, with which providers) and the server's
 * routing of channels to other instances. The server only talks to this interface: the Redis
 * implementation (redis-directory.ts) is the only code that knows Redis; MemoryCluster
 * (memory-directory.ts) joins servers of one process, for tests and embedding.
 *
 * Tokens are named by their lower-case hex SHA-256 (`sha256Hex(token)`), never by the token
 * itself, so that what a directory stores does not authenticate anyone.
 */
import type { EventEmitter } from 'node:events';

/** Another live instance that has providers of one token. */
export interface RemoteProviders {
  readonly nodeId: string;
  /** Where the instance accepts instance-to-instance links (its advertised WebSocket URL). */
  readonly url: string;
  /** How many provider connections of the token it holds. */
  readonly count: number;
}

export interface ClusterDirectoryEvents {
  /** The remote providers of a token changed (a node gained/lost providers, joined or died). */
  providers: [tokenHash: string];
  /** A node left or expired: routes through it must stop. */
  'node-gone': [nodeId: string];
}

export interface ClusterDirectory extends EventEmitter<ClusterDirectoryEvents> {
  /** This instance's id (unique in the cluster). */
  readonly nodeId: string;
  /** Registers this instance as reachable at `url`; called once the server listens. */
  announce(url: string): Promise<void>;
  /** Number of local provider connections for a token (0 removes it); published to the others. */
  setLocalProviders(tokenHash: string, count: number): void;
  /** Number of local client connections (any role) authenticated with a token; published to the others. */
  setLocalClients(tokenHash: string, count: number): void;
  /** Client connections of a token on the other live instances, summed (for `/api/status`). */
  remoteClients(tokenHash: string): number;
  /** Live instances known, this one included once announced (for metrics). */
  nodeCount(): number;
  /** Other live instances with providers of the token, in a stable order (by node id). */
  remoteProviders(tokenHash: string): readonly RemoteProviders[];
  /** The advertised URL of a live node, undefined when it is not (or no longer) known. */
  nodeUrl(nodeId: string): string | undefined;
  /** Deregisters this instance (drain and close call it first); idempotent. */
  withdraw(): Promise<void>;
}
