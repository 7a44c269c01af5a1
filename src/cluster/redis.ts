/**
 * The cluster's one connection point to Redis: nothing else in linksocks-ts imports the Redis
 * client. It owns two connections (commands, and one in subscriber mode for pub/sub), reports
 * whether Redis is reachable, and keeps the URL's password out of every message and log line.
 *
 * While Redis is down commands fail at once (no offline queue): callers answer 503 rather than
 * hang, and the connections retry in the background with a capped back-off.
 */
import { EventEmitter } from 'node:events';
import { createClient } from 'redis';
import { LinkSocksError } from '../errors.js';
import type { Logger } from '../log.js';

export type ClusterErrorCode = 'ERR_CLUSTER_CONNECT' | 'ERR_CLUSTER_UNAVAILABLE' | 'ERR_CLUSTER_AUTH' | 'ERR_CLUSTER_DATA' | 'ERR_CLUSTER_ASYNC_ONLY';

/**
 * Redis could not be reached (at start-up or now), a peer failed cluster authentication, data in
 * Redis is unusable, or a synchronous token method was called in cluster mode (ASYNC_ONLY).
 */
export class ClusterError extends LinkSocksError {
  override readonly name = 'ClusterError';
  declare readonly code: ClusterErrorCode;

  constructor(code: ClusterErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

export interface ClusterRedisEvents {
  /** Both connections are usable (first time and after every outage). */
  up: [];
  /** A connection was lost; commands fail until `up`. */
  down: [error: Error];
}

export interface ClusterRedisOptions {
  logger: Logger;
  /** Start-up and reconnect dial timeout; default 5 s. */
  connectTimeoutMs?: number;
  /** Longest pause between reconnect attempts; default 2 s. */
  maxReconnectDelayMs?: number;
  /** At most one "Redis unreachable" error line per this period; default 10 s. */
  logEveryMs?: number;
}

type Client = ReturnType<typeof createClient>;

/** The URL with any password replaced, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis URL (unparseable)';
  }
}

export class ClusterRedis extends EventEmitter<ClusterRedisEvents> {
  private up = false;
  private closing = false;
  private lastLog = 0;
  private suppressed = 0;

  private constructor(
    /** Commands (GET/SET/HSET/EVAL/PUBLISH…). Fails fast while Redis is down. */
    readonly commands: Client,
    private readonly subscriber: Client,
    private readonly options: Required<Omit<ClusterRedisOptions, 'logger'>> & { logger: Logger },
    private readonly where: string,
  ) {
    super();
  }

  /**
   * Connects both connections; rejects with ClusterError ERR_CLUSTER_CONNECT (one line, password
   * removed) when Redis cannot be reached now. Later outages are retried, not thrown.
   */
  static async connect(url: string, options: ClusterRedisOptions): Promise<ClusterRedis> {
    const resolved = {
      logger: options.logger,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 2_000,
      logEveryMs: options.logEveryMs ?? 10_000,
    };
    const where = redactRedisUrl(url);
    let started = false;
    const make = (): Client =>
      createClient({
        url,
        disableOfflineQueue: true,
        socket: {
          connectTimeout: resolved.connectTimeoutMs,
          // Before the first connection a failure is final (start-up error); after it, retry.
          reconnectStrategy: (retries: number, cause: Error) =>
            started ? Math.min(100 * 2 ** Math.min(retries, 10), resolved.maxReconnectDelayMs) : cause,
        },
      });
    const commands = make();
    const subscriber = make();
    const redis = new ClusterRedis(commands, subscriber, resolved, where);
    for (const client of [commands, subscriber]) {
      client.on('error', (err: Error) => redis.lost(err));
      client.on('ready', () => redis.ready());
    }
    try {
      await commands.connect();
      await subscriber.connect();
    } catch (err) {
      for (const client of [commands, subscriber]) {
        try {
          if (client.isOpen) client.destroy();
        } catch {
          // already closed by the failed connect
        }
      }
      const reason = err instanceof Error ? err.message : String(err);
      throw new ClusterError('ERR_CLUSTER_CONNECT', `cannot connect to Redis at ${where}: ${reason.replaceAll(url, where)}`, { cause: err });
    }
    started = true;
    redis.ready();
    return redis;
  }

  /** True while both connections are usable. */
  get isUp(): boolean {
    return this.up;
  }

  /** Throws ERR_CLUSTER_UNAVAILABLE unless Redis is reachable now (API writes answer 503 on it). */
  assertUp(): void {
    if (!this.up) throw new ClusterError('ERR_CLUSTER_UNAVAILABLE', 'cluster store (Redis) is unreachable; try again later');
  }

  /** Delivers every message published on `channel` to `listener` (re-subscribed after outages by the client). */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.subscriber.subscribe(channel, listener);
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.commands.publish(channel, message);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.up = false;
    await Promise.allSettled([this.commands, this.subscriber].map(async (client) => {
      if (client.isOpen) await client.close();
      else client.destroy();
    }));
  }

  private ready(): void {
    if (this.closing || this.up || !this.commands.isReady || !this.subscriber.isReady) return;
    this.up = true;
    if (this.suppressed > 0 || this.lastLog > 0) this.options.logger.warn({ redis: this.where }, 'cluster store (Redis) reachable again');
    this.suppressed = 0;
    this.emit('up');
  }

  private lost(err: Error): void {
    if (this.closing) return;
    const wasUp = this.up;
    this.up = false;
    const now = Date.now();
    if (now - this.lastLog >= this.options.logEveryMs) {
      this.options.logger.error({ redis: this.where, err: err.message, suppressed: this.suppressed }, 'cluster store (Redis) unreachable; serving known tokens, API writes refused');
      this.lastLog = now;
      this.suppressed = 0;
    } else {
      this.suppressed += 1;
    }
    if (wasUp) this.emit('down', err);
  }
}
