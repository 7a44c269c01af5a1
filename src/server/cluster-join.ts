/**
 * How a server joins and leaves its cluster (docs/cluster.md): connect Redis and build the
 * directory at start, work out the URL the other instances dial, and withdraw without letting a
 * hung Redis hold up shutdown.
 */
import type { AddressInfo } from 'node:net';
import type { ClusterDirectory } from '../cluster/directory.js';
import { RedisDirectory } from '../cluster/redis-directory.js';
import { ClusterRedis } from '../cluster/redis.js';
import type { Logger } from '../log.js';
import type { ResolvedServerOptions } from './options.js';

/** Longest a withdraw may take on the way out; past it the keys expire on their own. */
const WITHDRAW_TIMEOUT_MS = 2000;

export interface JoinedCluster {
  directory: ClusterDirectory;
  /** The shared Redis connection (commands + subscriber); absent for a directory given as an option. */
  redis?: ClusterRedis;
}

/**
 * With `cluster.url`: connects Redis (rejects with ClusterError ERR_CLUSTER_CONNECT, one line,
 * no password) and builds the Redis directory; with `cluster.directory`: uses it as given.
 */
export async function joinCluster(cluster: NonNullable<ResolvedServerOptions['cluster']>, logger: Logger): Promise<JoinedCluster> {
  if (cluster.directory) return { directory: cluster.directory };
  // resolveServerOptions filled in both: exactly one of url/directory, and a node id.
  const redis = await ClusterRedis.connect(cluster.url!, { logger });
  return { redis, directory: new RedisDirectory(redis, { nodeId: cluster.nodeId!, logger }) };
}

/**
 * The URL other instances dial: `advertiseUrl` when given, else ws(s)://<bound address>:<port>.
 * A wildcard bind (0.0.0.0, ::) names no address others can use: loopback is advertised then,
 * which only works for instances on the same machine, with a warning saying so.
 */
export function advertiseUrl(
  given: string | undefined,
  bound: AddressInfo,
  tls: boolean,
  logger: Logger,
): string {
  if (given !== undefined) return given;
  const scheme = tls ? 'wss' : 'ws';
  let host = bound.address;
  if (host === '0.0.0.0' || host === '::' || host === '') {
    host = bound.family === 'IPv6' && host === '::' ? '::1' : '127.0.0.1';
    logger.warn(
      { advertise: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${bound.port}` },
      'cluster: listening on a wildcard address and no advertise URL set; advertising loopback, reachable only from this machine (set advertiseUrl / --advertise-url)',
    );
  }
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${bound.port}`;
}

/** Withdraws from the directory; gives up (keys then expire) if Redis does not answer in time. */
export async function withdrawBounded(directory: ClusterDirectory, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), WITHDRAW_TIMEOUT_MS);
  });
  try {
    const outcome = await Promise.race([directory.withdraw().then(() => 'done' as const), late]);
    if (outcome === 'late') logger.warn('cluster: withdraw not confirmed in time; this instance expires from the cluster on its own');
  } catch (err) {
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'cluster: withdraw failed; this instance expires from the cluster on its own');
  } finally {
    clearTimeout(timer);
  }
}
