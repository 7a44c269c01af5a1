/**
 * ClusterDirectory over Redis: each instance's presence and its provider and client counts per
 * token hash, shared through expiring keys and one pub/sub channel. Only ClusterRedis talks to
 * Redis; this file decides what is stored (docs/cluster.md, "What Redis holds"):
 *
 * - `linksocks:node:<id>`: JSON `{"v":1,"url","version","started","inc"}`, expires after `ttlMs`
 *   (`inc`: random per start, so that a restarted instance with the same id is read afresh);
 * - `linksocks:node:<id>:counts`: hash `seq` → change number, `p:<sha256>` → providers,
 *   `c:<sha256>` → clients, same expiry; written only when a count changes;
 * - `linksocks:nodes`: set of node ids, so that a starting instance finds the others;
 * - channel `linksocks:presence`: `{"v":1,"n":id,"i":inc,"s":seq,"p":{…},"c":{…}}` after each
 *   change (`"r":true` instead of counts: read my whole state), `{"v":1,"n":id,"left":true}` when
 *   an instance withdraws.
 *
 * Liveness: every `refreshMs` one pipelined round trip extends the two keys (PEXPIRE only: the
 * cost does not grow with tokens or channels) and reads the records of the known nodes (MGET);
 * a record that is gone means the instance stopped refreshing. A dead instance therefore drops
 * out at most `ttlMs + refreshMs` (4 s by default) after its last refresh.
 *
 * Ordering: the change number `seq` goes into the hash and the message in one transaction; a
 * message that skips a number (lost while the subscriber reconnected) or a read older than what
 * is known is answered by re-reading that node, so the view never goes backwards.
 *
 * While Redis is down the last view is kept (nobody is dropped for Redis' outage); when it is
 * back (possibly empty: no persistence) this instance writes its whole state again and re-reads
 * everyone, and a node whose record is missing is dropped only after `ttlMs` of being up again,
 * which gives the others time to re-publish theirs.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';
import type { ClusterDirectory, ClusterDirectoryEvents, RemoteProviders } from './directory.js';
import type { ClusterRedis } from './redis.js';

/** Format of records and messages this version writes; newer ones are skipped with a warning. */
const FORMAT = 1;
const PREFIX = 'linksocks:';
const NODES = `${PREFIX}nodes`;
const CHANNEL = `${PREFIX}presence`;
const nodeKey = (id: string): string => `${PREFIX}node:${id}`;
const countsKey = (id: string): string => `${PREFIX}node:${id}:counts`;
const HASH_RE = /^[0-9a-f]{64}$/;
const NODE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Most other instances kept in the view (more are ignored with a warning). */
const MAX_NODES = 1024;
/** Most token counts kept per instance and kind (more are ignored with a warning). */
const MAX_COUNTS = 200_000;
/** Most distinct warnings about bad data remembered (each is logged once). */
const MAX_WARNED = 1024;

export interface RedisDirectoryOptions {
  nodeId: string;
  logger: Logger;
  /** Period of the refresh and sweep; default 1000 ms. */
  refreshMs?: number;
  /** Expiry of this instance's keys; default 3000 ms (dead-node bound: ttlMs + refreshMs). */
  ttlMs?: number;
}

interface RemoteNode {
  url: string;
  /** The node's incarnation (random per start). */
  inc: string;
  /** Last change number applied. */
  seq: number;
  providers: Map<string, number>;
  clients: Map<string, number>;
  /** Its record was missing at a sweep since this time (kept while Redis may still be refilling). */
  missingSince?: number;
}

interface Counts {
  readonly providers: Map<string, number>;
  readonly clients: Map<string, number>;
}

export class RedisDirectory extends EventEmitter<ClusterDirectoryEvents> implements ClusterDirectory {
  readonly nodeId: string;
  private readonly logger: Logger;
  private readonly refreshMs: number;
  private readonly ttlMs: number;
  private readonly local: Counts = { providers: new Map(), clients: new Map() };
  /** Hashes changed since the last flush, per kind. */
  private readonly dirty = { providers: new Set<string>(), clients: new Set<string>() };
  private readonly nodes = new Map<string, RemoteNode>();
  private readonly warned = new Set<string>();
  /** Node ids whose record is unusable (malformed, newer format): not read again at every sweep. */
  private readonly ignored = new Set<string>();
  private readonly inc = randomBytes(4).toString('hex');
  /** Incarnations that said they left: a read that raced with their withdraw must not bring them back. */
  private readonly left = new Map<string, string>();
  private url: string | undefined;
  private readonly started = Date.now();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private flushInFlight = false;
  private flushAgain = false;
  /** Set when a write failed (Redis down): everything is written again once it is back. */
  private stale = false;
  private refreshing = false;
  private upSince = Date.now();
  private withdrawn = false;
  private subscribed: Promise<void> | undefined;
  private announced: Promise<void> | undefined;
  private readonly onUp = (): void => this.recovered();

  constructor(
    private readonly redis: ClusterRedis,
    options: RedisDirectoryOptions,
  ) {
    super();
    this.nodeId = options.nodeId;
    this.logger = options.logger;
    this.refreshMs = options.refreshMs ?? 1000;
    this.ttlMs = options.ttlMs ?? 3000;
    if (!NODE_ID_RE.test(this.nodeId)) throw new Error('node id must be 1-64 letters, digits, dots, dashes or underscores');
  }

  /** Longest time a killed instance stays in the others' view after its last refresh. */
  get deadNodeBoundMs(): number {
    return this.ttlMs + this.refreshMs;
  }

  /** Live instances known, this one included once announced. */
  nodeCount(): number {
    return this.nodes.size + (this.url !== undefined && !this.withdrawn ? 1 : 0);
  }

  /** Idempotent: announcing again (another URL included) only writes the record again. */
  async announce(url: string): Promise<void> {
    if (this.withdrawn) throw new Error('directory was withdrawn');
    const again = this.url !== undefined;
    this.url = url;
    if (again) {
      await this.announced;
      await this.publishAll();
      return;
    }
    this.announced = (async () => {
      this.subscribed ??= this.redis.subscribe(CHANNEL, (message) => this.onMessage(message));
      await this.subscribed;
      if (this.withdrawn) return;
      this.redis.on('up', this.onUp);
      this.timer = setInterval(() => void this.refresh(), this.refreshMs);
      await this.publishAll();
      await this.loadAll();
    })();
    await this.announced;
  }

  setLocalProviders(tokenHash: string, count: number): void {
    this.setLocal('providers', tokenHash, count);
  }

  setLocalClients(tokenHash: string, count: number): void {
    this.setLocal('clients', tokenHash, count);
  }

  remoteProviders(tokenHash: string): readonly RemoteProviders[] {
    const found: RemoteProviders[] = [];
    for (const [nodeId, node] of this.nodes) {
      const count = node.providers.get(tokenHash) ?? 0;
      if (count > 0) found.push({ nodeId, url: node.url, count });
    }
    return found.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  remoteClients(tokenHash: string): number {
    let sum = 0;
    for (const node of this.nodes.values()) sum += node.clients.get(tokenHash) ?? 0;
    return sum;
  }

  nodeUrl(nodeId: string): string | undefined {
    return this.nodes.get(nodeId)?.url;
  }

  async withdraw(): Promise<void> {
    if (this.withdrawn) return;
    this.withdrawn = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.redis.off('up', this.onUp);
    // The view is kept as it was (nothing is emitted to this instance): it is shutting down, and
    // channels it carries to other instances may still finish.
    if (this.url !== undefined) {
      try {
        await this.flushing;
        await this.redis.commands
          .multi()
          .publish(CHANNEL, JSON.stringify({ v: FORMAT, n: this.nodeId, left: true }))
          .del([nodeKey(this.nodeId), countsKey(this.nodeId)])
          .sRem(NODES, this.nodeId)
          .exec();
      } catch (err) {
        // Redis is down: the keys expire on their own within ttlMs.
        this.logger.debug({ err: errorText(err) }, 'cluster: withdraw not written, presence expires on its own');
      }
    }
  }

  // ---- writing this instance's state -----------------------------------------------------------

  private setLocal(kind: keyof Counts, tokenHash: string, count: number): void {
    if (!HASH_RE.test(tokenHash)) throw new Error('token hash must be lower-case hex SHA-256');
    const map = this.local[kind];
    const n = Math.max(0, Math.floor(count));
    if ((map.get(tokenHash) ?? 0) === n) return;
    if (n > 0) map.set(tokenHash, n);
    else map.delete(tokenHash);
    this.dirty[kind].add(tokenHash);
    // Changes of one tick go out as one transaction and one message.
    if (this.url !== undefined) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.withdrawn || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Writes the counts changed since the last flush and announces them. */
  private async flush(): Promise<void> {
    // One write in flight at a time: a slow Redis accumulates changes instead of queued writes.
    if (this.flushInFlight) {
      this.flushAgain = true;
      return;
    }
    if (this.withdrawn || (this.dirty.providers.size === 0 && this.dirty.clients.size === 0)) return;
    const changed = { p: {} as Record<string, number>, c: {} as Record<string, number> };
    const sets: Record<string, string> = {};
    const dels: string[] = [];
    for (const [kind, letter] of [['providers', 'p'], ['clients', 'c']] as const) {
      for (const hash of this.dirty[kind]) {
        const count = this.local[kind].get(hash) ?? 0;
        changed[letter][hash] = count;
        if (count > 0) sets[`${letter}:${hash}`] = String(count);
        else dels.push(`${letter}:${hash}`);
      }
      this.dirty[kind].clear();
    }
    if (this.stale) return; // everything is written again when Redis is back
    this.seq += 1;
    sets.seq = String(this.seq);
    const multi = this.redis.commands.multi().hSet(countsKey(this.nodeId), sets);
    if (dels.length > 0) multi.hDel(countsKey(this.nodeId), dels);
    multi.pExpire(countsKey(this.nodeId), this.ttlMs).publish(CHANNEL, JSON.stringify({ v: FORMAT, n: this.nodeId, i: this.inc, s: this.seq, ...changed }));
    this.flushInFlight = true;
    this.flushing = multi.exec().then(
      () => undefined,
      (err: unknown) => {
        this.stale = true;
        this.logger.debug({ err: errorText(err) }, 'cluster: provider counts not written, written again when Redis is back');
      },
    );
    await this.flushing;
    this.flushInFlight = false;
    if (this.flushAgain) {
      this.flushAgain = false;
      this.scheduleFlush();
    }
  }

  /** Writes the record and every count of this instance (announce, and after Redis came back). */
  private async publishAll(): Promise<void> {
    if (this.url === undefined || this.withdrawn) return;
    await this.flushing;
    this.dirty.providers.clear();
    this.dirty.clients.clear();
    this.seq += 1;
    const fields: Record<string, string> = { seq: String(this.seq) };
    for (const [hash, n] of this.local.providers) fields[`p:${hash}`] = String(n);
    for (const [hash, n] of this.local.clients) fields[`c:${hash}`] = String(n);
    const record = JSON.stringify({ v: FORMAT, url: this.url, version: VERSION, started: this.started, inc: this.inc });
    const write = this.redis.commands
      .multi()
      .set(nodeKey(this.nodeId), record, { expiration: { type: 'PX', value: this.ttlMs } })
      .del(countsKey(this.nodeId))
      .hSet(countsKey(this.nodeId), fields)
      .pExpire(countsKey(this.nodeId), this.ttlMs)
      .sAdd(NODES, this.nodeId)
      .publish(CHANNEL, JSON.stringify({ v: FORMAT, n: this.nodeId, i: this.inc, s: this.seq, r: true }))
      .exec();
    // `flushing` never rejects (others await it); the caller hears the failure through `write`.
    this.flushing = write.then(
      () => {
        this.stale = false;
      },
      () => {
        this.stale = true;
      },
    );
    await write;
  }

  // ---- reading the others ----------------------------------------------------------------------

  /** Re-reads every node listed in Redis (announce, and after Redis came back). */
  private async loadAll(): Promise<void> {
    const ids = await this.redis.commands.sMembers(NODES);
    await Promise.all(ids.filter((id) => id !== this.nodeId).map((id) => this.loadNode(id)));
  }

  /** Reads one node's record and counts and replaces what the view holds for it. */
  private async loadNode(id: string): Promise<void> {
    if (this.ignored.has(id)) return;
    if (!NODE_ID_RE.test(id)) {
      this.ignore(id, { node: id.slice(0, 80) }, 'cluster: malformed node id in Redis skipped');
      return;
    }
    const [rawRecord, rawCounts] = await this.redis.commands.multi().get(nodeKey(id)).hGetAll(countsKey(id)).exec();
    if (this.withdrawn) return;
    if (rawRecord === null) {
      // Listed but expired: an instance that died without withdrawing; nobody needs the entry.
      if (!this.nodes.has(id)) await this.redis.commands.sRem(NODES, id);
      return;
    }
    const record = this.parseRecord(id, rawRecord as unknown as string);
    if (record === undefined || this.left.get(id) === record.inc) return;
    const counts = this.parseCounts(id, rawCounts as unknown as Record<string, string>);
    const known = this.nodes.get(id);
    if (known && known.inc === record.inc && counts.seq < known.seq) return; // a message already brought newer counts
    if (!known && this.nodes.size >= MAX_NODES) {
      this.warnOnce('max-nodes', { max: MAX_NODES }, 'cluster: too many instances, the others are ignored');
      return;
    }
    const node: RemoteNode = { url: record.url, inc: record.inc, seq: counts.seq, providers: counts.providers, clients: counts.clients };
    this.nodes.set(id, node);
    if (!known || known.inc !== record.inc) this.logger.info({ node: id, url: record.url }, 'cluster: instance joined');
    const hashes = new Set([...(known?.providers.keys() ?? []), ...counts.providers.keys()]);
    for (const hash of hashes) {
      if ((known?.providers.get(hash) ?? 0) !== (counts.providers.get(hash) ?? 0)) this.emit('providers', hash);
    }
  }

  private onMessage(message: string): void {
    if (this.withdrawn) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      parsed = undefined;
    }
    if (!isObject(parsed) || typeof parsed.n !== 'string' || typeof parsed.v !== 'number') {
      this.warnOnce('message', {}, 'cluster: malformed presence message skipped');
      return;
    }
    if (parsed.v > FORMAT) {
      this.warnOnce(`message-v${parsed.v}`, { format: parsed.v }, 'cluster: presence message of a newer version skipped');
      return;
    }
    const id = parsed.n;
    if (id === this.nodeId) return;
    if (parsed.left === true) {
      const node = this.nodes.get(id);
      if (node) {
        if (this.left.size >= MAX_NODES) this.left.clear();
        this.left.set(id, node.inc);
      }
      this.drop(id);
      return;
    }
    const node = this.nodes.get(id);
    if (!node || parsed.r === true || parsed.i !== node.inc || typeof parsed.s !== 'number' || parsed.s !== node.seq + 1) {
      // A new node, or a message was missed: read its whole state.
      void this.loadNode(id).catch((err: unknown) => this.logger.debug({ err: errorText(err) }, 'cluster: node not read'));
      return;
    }
    node.seq = parsed.s;
    this.applyChanges(node.providers, parsed.p, true);
    this.applyChanges(node.clients, parsed.c, false);
  }

  private applyChanges(target: Map<string, number>, changes: unknown, notify: boolean): void {
    if (!isObject(changes)) return;
    for (const [hash, value] of Object.entries(changes)) {
      if (!HASH_RE.test(hash) || typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) continue;
      if ((target.get(hash) ?? 0) === value) continue;
      if (value > 0 && !target.has(hash) && target.size >= MAX_COUNTS) {
        this.warnOnce('max-counts', { max: MAX_COUNTS }, 'cluster: too many token counts from one instance, the others are ignored');
        continue;
      }
      if (value > 0) target.set(hash, value);
      else target.delete(hash);
      if (notify) this.emit('providers', hash);
    }
  }

  /** A node left or expired: it leaves the view, and its tokens' providers changed. */
  private drop(id: string): void {
    const node = this.nodes.get(id);
    if (!node) return;
    this.nodes.delete(id);
    this.logger.info({ node: id }, 'cluster: instance left');
    this.emit('node-gone', id);
    for (const hash of node.providers.keys()) this.emit('providers', hash);
  }

  // ---- refresh and sweep -----------------------------------------------------------------------

  /**
   * One round trip per period: extend our keys, list the nodes, read the known nodes' records.
   * Also notices that Redis lost our keys (restart without persistence) and writes them again.
   */
  private async refresh(): Promise<void> {
    if (this.refreshing || this.withdrawn || !this.redis.isUp) return;
    this.refreshing = true;
    try {
      const known = [...this.nodes.keys()];
      const multi = this.redis.commands
        .multi()
        .pExpire(nodeKey(this.nodeId), this.ttlMs)
        .pExpire(countsKey(this.nodeId), this.ttlMs)
        .sAdd(NODES, this.nodeId)
        .sMembers(NODES);
      if (known.length > 0) multi.mGet(known.map(nodeKey));
      const replies = (await multi.execAsPipeline()) as unknown[];
      if (this.withdrawn) return;
      const [recordKept, countsKept, , members, records] = replies as [number, number, number, string[], (string | null)[] | undefined];
      if (recordKept !== 1 || countsKept !== 1 || this.stale) await this.publishAll();
      this.sweep(known, records ?? [], members);
    } catch (err) {
      this.logger.debug({ err: errorText(err) }, 'cluster: presence refresh failed');
    } finally {
      this.refreshing = false;
    }
  }

  private sweep(known: readonly string[], records: readonly (string | null)[], members: readonly string[]): void {
    const now = Date.now();
    known.forEach((id, i) => {
      const node = this.nodes.get(id);
      if (!node) return;
      if (records[i] !== null && records[i] !== undefined) {
        delete node.missingSince;
        return;
      }
      // Just after Redis came back, the others may not have written their keys again yet.
      if (now - this.upSince < this.ttlMs) {
        node.missingSince ??= now;
        return;
      }
      this.drop(id);
      void this.redis.commands.sRem(NODES, id).catch(() => undefined);
    });
    for (const id of members) {
      if (id === this.nodeId || this.nodes.has(id)) continue;
      void this.loadNode(id).catch((err: unknown) => this.logger.debug({ err: errorText(err) }, 'cluster: node not read'));
    }
  }

  /** Redis is reachable again, maybe empty: write everything, read everyone. */
  private recovered(): void {
    if (this.withdrawn || this.url === undefined) return;
    this.upSince = Date.now();
    void (async () => {
      try {
        await this.publishAll();
        await this.loadAll();
      } catch (err) {
        this.logger.debug({ err: errorText(err) }, 'cluster: state not written again yet, retried at the next refresh');
      }
    })();
  }

  // ---- parsing what others wrote ---------------------------------------------------------------

  private parseRecord(id: string, raw: string): { url: string; inc: string } | undefined {
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch {
      record = undefined;
    }
    if (!isObject(record) || typeof record.v !== 'number') {
      this.ignore(id, { node: id }, 'cluster: malformed instance record in Redis skipped');
      return undefined;
    }
    if (record.v > FORMAT) {
      this.ignore(id, { node: id, format: record.v }, 'cluster: instance record of a newer version skipped');
      return undefined;
    }
    if (typeof record.url !== 'string' || !/^wss?:\/\/[^/]/i.test(record.url) || typeof record.inc !== 'string') {
      this.ignore(id, { node: id }, 'cluster: instance record without a usable URL skipped');
      return undefined;
    }
    return { url: record.url, inc: record.inc };
  }

  private parseCounts(id: string, raw: Record<string, string>): Counts & { seq: number } {
    const counts: Counts & { seq: number } = { seq: 0, providers: new Map(), clients: new Map() };
    let bad = false;
    for (const [field, value] of Object.entries(raw)) {
      if (counts.providers.size + counts.clients.size >= 2 * MAX_COUNTS) {
        this.warnOnce('max-counts', { max: MAX_COUNTS }, 'cluster: too many token counts from one instance, the others are ignored');
        break;
      }
      const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
      if (field === 'seq' && !Number.isNaN(n)) counts.seq = n;
      else if (field.startsWith('p:') && HASH_RE.test(field.slice(2)) && n > 0) counts.providers.set(field.slice(2), n);
      else if (field.startsWith('c:') && HASH_RE.test(field.slice(2)) && n > 0) counts.clients.set(field.slice(2), n);
      else bad = true;
    }
    if (bad) this.warnOnce(`counts:${id}`, { node: id }, 'cluster: malformed counts of an instance skipped');
    return counts;
  }

  /** Logs once and stops reading a node whose record cannot be used. */
  private ignore(id: string, fields: Record<string, unknown>, message: string): void {
    if (this.ignored.size < MAX_WARNED) this.ignored.add(id);
    this.warnOnce(`node:${id.slice(0, 80)}`, fields, message);
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key) || this.warned.size >= MAX_WARNED) return;
    this.warned.add(key);
    this.logger.warn(fields, message);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
