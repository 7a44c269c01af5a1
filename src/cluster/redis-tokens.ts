/**
 * The cluster's token store: every token (forward, reverse, autonomy, connector, and the internal
 * and connector tokens of autonomy providers) with its port, SOCKS credentials, rules, strategy
 * and policy, and the server-wide access rules, live in Redis; each instance keeps its TokenStore
 * as the in-memory view the data path reads.
 *
 * A change is checked against the local view, then written by one Lua script that checks again,
 * reserves the port (HSETNX on the port hash, so two instances never give one port to two tokens),
 * bumps a revision counter and PUBLISHes the change in the same atomic step. Every instance, the
 * writer too, applies published changes in revision order; the writer's call returns once its own
 * change has come back, so a caller reads its writes everywhere changes are read. A gap in the
 * revisions, a lost connection or a `reload` message makes the instance load everything again.
 *
 * Keys (prefix `linksocks:`): `tokens` hash (token SHA-256 hex → record, token-record.ts),
 * `ports` hash (port → token hash), `deps:<hash>` sets (connector/internal tokens of a token),
 * `access` (server-wide rules), `deleted` sorted set (hashes of the newest 10,000 removals, so a
 * re-seed does not bring them back), `rev`, `epoch` (random id of the data set), `check` (a value
 * sealed with the cluster secret, to tell a wrong secret from malformed records), channel `changes`.
 *
 * Redis restarted empty: the first instance to notice writes its local view back (`epoch` absent),
 * the others load it. An instance that finds a different epoch (Redis was emptied and someone else
 * started a new data set meanwhile) adds the records it knows that Redis lacks, except removed ones.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { AccessRules } from '../access/index.js';
import { TOKEN_ERROR_TEXT, TokenError } from '../server/token-error.js';
import { ANONYMOUS_TOKEN, generateToken, isInternal, makeTokenRecord, sameRules, withPolicy, withRules, type ServerAccessRules, type StoreReverseOptions, type TokenStore } from '../server/token-store.js';
import { isProviderStrategy, strategyError } from '../server/provider-strategy.js';
import type {
  ConnectorTokenRecord,
  ForwardTokenRecord,
  InternalTokenRecord,
  PlainReverseTokenRecord,
  TokenRecord,
} from '../server/tokens.js';
import type { TokenPolicy } from '../server/token-policy.js';
import { sha256Hex } from '../util/secrets.js';
import { ClusterError, type ClusterRedis } from './redis.js';
import { RecordError, decodeAccess, decodeRecord, encodeRecord, loadRank, ownerOf } from './token-record.js';
import { TokenSeal } from './token-seal.js';
import { ACCESS_SCRIPT, PUT_SCRIPT, REMOVE_SCRIPT, SEED_SCRIPT } from './token-scripts.js';

export interface RedisTokensOptions {
  /** The cluster secret: the sealing key is derived from it. */
  secret: string;
  logger: Logger;
  /** Key prefix; default `linksocks:`. */
  prefix?: string;
  /** How long a write waits for its own change to come back before loading everything; default 2 s. */
  ackTimeoutMs?: number;
}

/** Removals remembered so that a re-seed does not resurrect them. */
const MAX_TOMBSTONES = 10_000;
/** Changes held while a full load runs; more means load again rather than buffer without bound. */
const MAX_QUEUED = 10_000;
/** Distinct malformed records reported (each once). */
const MAX_REPORTED = 1_000;
/** Random ports tried before a pool is called exhausted (others may take candidates meanwhile). */
const PORT_ATTEMPTS = 16;
/** A load that keeps failing (wrong secret, broken data) is logged at most this often. */
const SYNC_ERROR_LOG_EVERY_MS = 10_000;
const CHECK_TEXT = 'linksocks-ts cluster token store';
const CHECK_BINDING = 'check';

interface Change {
  r?: number;
  e?: string;
  op: 'put' | 'del' | 'access' | 'reload';
  h?: string | string[] | Record<string, never>;
  rec?: unknown;
  v?: unknown;
}

interface Snapshot {
  epoch: string | null;
  check: string | null;
  rev: number;
  tokens: Record<string, string>;
  access: string | null;
}

export class RedisTokens {
  private readonly seal: TokenSeal;
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly ackTimeoutMs: number;
  /** Hash → token of every record the local store holds (internal tokens included). */
  private readonly names = new Map<string, string>();
  /** The data set last loaded and the revision of the last change applied. */
  private epoch: string | undefined;
  private appliedRev = 0;
  /** True from a lost connection or a detected gap until a full load completed. */
  private stale = true;
  private syncing: Promise<void> | undefined;
  private resyncWanted = false;
  private queue: Change[] = [];
  private readonly waiters = new Set<{ rev: number; resolve: (applied: boolean) => void }>();
  private readonly reported = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;
  private lastSyncErrorLog = 0;
  private closed = false;
  private readonly shas = new Map<string, string>();
  private readonly onUp = (): void => this.requestSync();
  private readonly onDown = (): void => {
    this.stale = true;
    // Writes acknowledged by Redis are in Redis: their callers need not wait for the reload.
    this.releaseWaiters(Infinity, false);
  };

  constructor(
    private readonly redis: ClusterRedis,
    private readonly store: TokenStore,
    options: RedisTokensOptions,
  ) {
    this.seal = new TokenSeal(options.secret);
    this.prefix = options.prefix ?? 'linksocks:';
    this.logger = options.logger;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 2_000;
    for (const record of store.list()) this.names.set(record.hash, record.token);
    store.on('added', (record) => this.names.set(record.hash, record.token));
    store.on('removed', (record) => this.names.delete(record.hash));
  }

  /**
   * Subscribes and loads everything (seeding an empty Redis with the local view). Rejects with
   * ClusterError ERR_CLUSTER_AUTH when Redis holds a data set sealed with another secret, or
   * ERR_CLUSTER_UNAVAILABLE when Redis fails meanwhile.
   */
  async start(): Promise<void> {
    await this.wrap(() => this.redis.subscribe(`${this.prefix}changes`, (message) => this.onMessage(message)));
    this.redis.on('up', this.onUp);
    this.redis.on('down', this.onDown);
    await this.fullSync();
  }

  /** True while the local view follows Redis (connected and loaded). */
  get inSync(): boolean {
    return !this.stale && this.redis.isUp;
  }

  close(): void {
    this.closed = true;
    this.redis.off('up', this.onUp);
    this.redis.off('down', this.onDown);
    clearTimeout(this.retryTimer);
    this.releaseWaiters(Infinity, false);
  }

  // ---- writes ---------------------------------------------------------------------------------

  async addForward(token: string | undefined, rules?: AccessRules, policy?: TokenPolicy): Promise<ForwardTokenRecord> {
    return this.addNamed(token, TOKEN_ERROR_TEXT.reserved, TOKEN_ERROR_TEXT.exists, 'ERR_LINKSOCKS_TOKEN_EXISTS', (name) =>
      makeTokenRecord<ForwardTokenRecord>({ token: name, kind: 'forward', ...withRules(rules), ...withPolicy(policy) }),
    );
  }

  async addReverse(request: StoreReverseOptions & { policy?: TokenPolicy } = {}): Promise<PlainReverseTokenRecord> {
    if (request.strategy !== undefined && !isProviderStrategy(request.strategy)) {
      throw new TokenError('ERR_LINKSOCKS_INVALID_STRATEGY', strategyError(request.strategy));
    }
    const autonomy = request.allowManageConnector === true;
    const requested = autonomy ? -1 : request.port ?? 0;
    if (requested > 0 && (!Number.isInteger(requested) || requested > 65535 || this.store.ports.isAllocated(requested))) {
      throw new TokenError('ERR_LINKSOCKS_PORT_UNAVAILABLE', TOKEN_ERROR_TEXT.portUnavailable(requested));
    }
    const build = (name: string, port: number): PlainReverseTokenRecord =>
      makeTokenRecord<PlainReverseTokenRecord>({
        token: name,
        kind: 'reverse',
        port,
        ...(request.username !== undefined && { username: request.username }),
        ...(request.password !== undefined && { password: request.password }),
        ...(autonomy && { allowManageConnector: true }),
        ...withRules(request.rules),
        ...(request.strategy !== undefined && { strategy: request.strategy }),
        ...withPolicy(request.policy),
      });
    if (requested !== 0) {
      return this.addNamed(request.token, TOKEN_ERROR_TEXT.reserved, TOKEN_ERROR_TEXT.exists, 'ERR_LINKSOCKS_TOKEN_EXISTS', (name) => build(name, requested));
    }
    // A pool port: another instance may reserve the candidate first, then try another.
    const tried = new Set<number>();
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = this.store.ports.candidate(tried);
      if (port === undefined) break;
      tried.add(port);
      try {
        return await this.addNamed(request.token, TOKEN_ERROR_TEXT.reserved, TOKEN_ERROR_TEXT.exists, 'ERR_LINKSOCKS_TOKEN_EXISTS', (name) => build(name, port));
      } catch (err) {
        if (!(err instanceof TokenError) || err.code !== 'ERR_LINKSOCKS_PORT_UNAVAILABLE') throw err;
      }
    }
    throw new TokenError('ERR_LINKSOCKS_PORT_UNAVAILABLE', TOKEN_ERROR_TEXT.portUnavailable(0));
  }

  /** Re-adding an existing identical mapping succeeds without change (as the store does). */
  async addConnector(token: string | undefined, reverseToken: string, rules?: AccessRules, policy?: TokenPolicy): Promise<ConnectorTokenRecord> {
    if (token === ANONYMOUS_TOKEN) throw new TokenError('ERR_LINKSOCKS_TOKEN_RESERVED', TOKEN_ERROR_TEXT.reservedConnector);
    // The reverse token may have been added on another instance a moment ago: catch up first.
    if (this.store.get(reverseToken)?.kind !== 'reverse') await this.catchUp();
    const target = this.store.get(reverseToken);
    if (target?.kind !== 'reverse') throw new TokenError('ERR_LINKSOCKS_REVERSE_TOKEN_UNKNOWN', TOKEN_ERROR_TEXT.reverseUnknown);
    if (token !== undefined && token !== '') {
      const existing = this.store.get(token);
      if (existing?.kind === 'connector' && existing.reverseToken === reverseToken && sameRules(existing.rules, rules)) return existing;
    }
    return this.addNamed(token, TOKEN_ERROR_TEXT.reservedConnector, TOKEN_ERROR_TEXT.connectorExists, 'ERR_LINKSOCKS_CONNECTOR_EXISTS', (name) =>
      makeTokenRecord<ConnectorTokenRecord>({ token: name, kind: 'connector', reverseToken, ...withRules(rules), ...withPolicy(policy) }),
    );
  }

  /** The private pool of an autonomy provider, cluster-wide so its connector tokens work on every instance. */
  async addInternal(parentToken: string, internalToken: string): Promise<InternalTokenRecord> {
    const parent = this.store.get(parentToken);
    if (parent === undefined || parent.kind !== 'reverse' || isInternal(parent)) {
      throw new TokenError('ERR_LINKSOCKS_REVERSE_TOKEN_UNKNOWN', TOKEN_ERROR_TEXT.reverseUnknown);
    }
    const existing = this.store.get(internalToken);
    if (existing !== undefined && isInternal(existing) && existing.parentToken === parentToken) return existing;
    if (internalToken === '' || internalToken === ANONYMOUS_TOKEN) throw new TokenError('ERR_LINKSOCKS_TOKEN_RESERVED', TOKEN_ERROR_TEXT.reserved);
    const record = makeTokenRecord<InternalTokenRecord>({
      token: internalToken,
      kind: 'reverse',
      port: -1,
      ...(parent.username !== undefined && { username: parent.username }),
      ...(parent.password !== undefined && { password: parent.password }),
      ...(parent.allowManageConnector === true && { allowManageConnector: true }),
      ...(parent.strategy !== undefined && { strategy: parent.strategy }),
      internal: true,
      parentToken,
    });
    try {
      return await this.write(record, 'add');
    } catch (err) {
      // Connections of one provider instance on two servers at once both create the same pool,
      // with the same content; the other's change may not have arrived here yet.
      if (!(err instanceof TokenError) || err.code !== 'ERR_LINKSOCKS_TOKEN_EXISTS') throw err;
      this.store.put(record);
      return record;
    }
  }

  /**
   * Replaces a token's settings everywhere with those of `record` (built by TokenStore.updated:
   * policy, strategy, rules); its kind, port and target stay.
   */
  async update(record: TokenRecord): Promise<TokenRecord> {
    return this.write(record, 'update');
  }

  /** Removes a token with its dependants everywhere; false when it was unknown (here and in Redis). */
  async remove(token: string): Promise<boolean> {
    await this.writable();
    const hash = sha256Hex(token);
    const result = await this.evalScript(REMOVE_SCRIPT, [this.prefix, hash, String(Date.now()), String(MAX_TOMBSTONES)]);
    if (result === 'noepoch') throw this.lostData();
    if (result === 0) {
      // Unknown in Redis: a local leftover (e.g. missed while disconnected) goes too.
      return this.store.remove(token).length > 0;
    }
    // Applied by the change itself, unless it could not come back (then the next load confirms).
    if (!(await this.ack(Number(result)))) this.store.remove(token);
    return true;
  }

  async setAccess(change: Partial<ServerAccessRules>): Promise<void> {
    await this.writable();
    const current = this.store.access;
    const next = { entry: change.entry ?? current.entry, dial: change.dial ?? current.dial };
    const value = JSON.stringify({ entry: next.entry.toJSON(), dial: next.dial.toJSON() });
    const result = await this.evalScript(ACCESS_SCRIPT, [this.prefix, value]);
    if (result === 'noepoch') throw this.lostData();
    if (!(await this.ack(Number(result)))) this.store.setAccess(next);
  }

  // ---- internals: writing ---------------------------------------------------------------------

  private async addNamed<T extends TokenRecord>(
    requested: string | undefined,
    reservedText: string,
    existsText: string,
    existsCode: 'ERR_LINKSOCKS_TOKEN_EXISTS' | 'ERR_LINKSOCKS_CONNECTOR_EXISTS',
    build: (name: string) => T,
  ): Promise<T> {
    if (requested === ANONYMOUS_TOKEN) throw new TokenError('ERR_LINKSOCKS_TOKEN_RESERVED', reservedText);
    const generate = requested === undefined || requested === '';
    for (let attempt = 0; ; attempt++) {
      let name = requested ?? '';
      if (generate) {
        do name = generateToken();
        while (this.store.has(name));
      } else if (this.store.has(name)) {
        throw new TokenError(existsCode, existsText);
      }
      try {
        return await this.write(build(name), 'add');
      } catch (err) {
        const taken = err instanceof TokenError && err.code === 'ERR_LINKSOCKS_TOKEN_EXISTS';
        if (!taken) throw err;
        if (!generate || attempt >= 3) throw new TokenError(existsCode, existsText);
      }
    }
  }

  /** Runs the put script for `record`; resolves with the record once applied here. */
  private async write<T extends TokenRecord>(record: T, mode: 'add' | 'update'): Promise<T> {
    await this.writable();
    const stored = encodeRecord(record, this.seal);
    const port = record.kind === 'reverse' && record.port > 0 ? String(record.port) : '0';
    const result = await this.evalScript(PUT_SCRIPT, [this.prefix, record.hash, JSON.stringify(stored), port, ownerOf(stored), mode]);
    switch (result) {
      case 'noepoch':
        throw this.lostData();
      case 'exists':
        throw new TokenError('ERR_LINKSOCKS_TOKEN_EXISTS', TOKEN_ERROR_TEXT.exists);
      case 'missing':
        throw new TokenError('ERR_LINKSOCKS_TOKEN_UNKNOWN', TOKEN_ERROR_TEXT.unknown);
      case 'target':
        throw new TokenError('ERR_LINKSOCKS_REVERSE_TOKEN_UNKNOWN', TOKEN_ERROR_TEXT.reverseUnknown);
      case 'port':
        throw new TokenError('ERR_LINKSOCKS_PORT_UNAVAILABLE', TOKEN_ERROR_TEXT.portUnavailable(Number(port)));
    }
    // Normally the change itself has put it there (and a later change may already have removed it
    // again: then it stays removed); when it could not come back, put it here until the next load.
    if (!(await this.ack(Number(result)))) this.store.put(record);
    return (this.store.get(record.token) as T | undefined) ?? record;
  }

  /** Waits until every change Redis has numbered so far is applied here (bounded by the ack timeout). */
  private async catchUp(): Promise<void> {
    await this.writable();
    const rev = Number(await this.wrap(() => this.redis.commands.get(`${this.prefix}rev`)));
    if (Number.isSafeInteger(rev) && rev > 0) await this.ack(rev);
  }

  /** Redis must be up; a load in progress is waited for (a write must not race it), a failed one refuses. */
  private async writable(): Promise<void> {
    this.redis.assertUp();
    if (this.syncing !== undefined) await this.syncing.catch(() => undefined);
    this.redis.assertUp();
    if (this.stale) throw new ClusterError('ERR_CLUSTER_UNAVAILABLE', 'cluster store (Redis) is resynchronising; try again later');
  }

  private lostData(): ClusterError {
    this.requestSync();
    return new ClusterError('ERR_CLUSTER_UNAVAILABLE', 'cluster store (Redis) lost its data and is being re-seeded; try again later');
  }

  /**
   * Resolves true once the change numbered `rev` (or a full load that includes it) was applied
   * here; false when it could not come back (Redis lost, or not within ackTimeoutMs: a load is
   * started, which will include it).
   */
  private ack(rev: number): Promise<boolean> {
    if (this.appliedRev >= rev && !this.stale) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        rev,
        resolve: (applied: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(applied);
        },
      };
      const timer = setTimeout(() => {
        this.resyncWanted = true;
        this.requestSync();
        waiter.resolve(false);
      }, this.ackTimeoutMs);
      this.waiters.add(waiter);
    });
  }

  private releaseWaiters(upTo = Infinity, applied = true): void {
    for (const waiter of [...this.waiters]) if (waiter.rev <= upTo) waiter.resolve(applied);
  }

  private async evalScript(script: string, args: string[]): Promise<unknown> {
    return this.wrap(async () => {
      let sha = this.shas.get(script);
      if (sha === undefined) {
        sha = await this.redis.commands.scriptLoad(script);
        this.shas.set(script, sha);
      }
      try {
        return await this.redis.commands.evalSha(sha, { arguments: args });
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await this.redis.commands.eval(script, { arguments: args });
      }
    });
  }

  /** Any failure of a Redis call is "unavailable" to callers (503), with the cause kept. */
  private async wrap<T>(call: () => Promise<T>): Promise<T> {
    this.redis.assertUp();
    try {
      return await call();
    } catch (err) {
      if (err instanceof ClusterError) throw err;
      throw new ClusterError('ERR_CLUSTER_UNAVAILABLE', 'cluster store (Redis) is unreachable; try again later', { cause: err });
    }
  }

  // ---- internals: following changes ------------------------------------------------------------

  private onMessage(message: string): void {
    if (this.closed) return;
    let change: Change;
    try {
      change = JSON.parse(message) as Change;
    } catch {
      this.reportOnce('changes', 'change message is not JSON');
      return;
    }
    if (change.op === 'reload') {
      this.resyncWanted = true;
      this.requestSync();
      return;
    }
    if (this.syncing !== undefined || this.stale) {
      if (this.queue.length < MAX_QUEUED) this.queue.push(change);
      else this.resyncWanted = true;
      return;
    }
    this.applyChange(change);
  }

  /** Applies one change in order; a gap or another data set means loading everything. */
  private applyChange(change: Change): void {
    if (typeof change.r !== 'number' || change.e !== this.epoch) {
      this.resyncWanted = true;
      this.requestSync();
      return;
    }
    if (change.r <= this.appliedRev) return;
    if (change.r !== this.appliedRev + 1) {
      this.logger.debug({ expected: this.appliedRev + 1, got: change.r }, 'cluster token changes skipped a revision, reloading');
      this.resyncWanted = true;
      this.requestSync();
      return;
    }
    try {
      if (change.op === 'put' && typeof change.h === 'string') {
        this.applyRecord(change.h, JSON.stringify(change.rec));
      } else if (change.op === 'del') {
        const hashes = Array.isArray(change.h) ? change.h : [];
        for (const hash of hashes) {
          const name = this.names.get(hash);
          if (name !== undefined) this.store.remove(name);
        }
      } else if (change.op === 'access') {
        try {
          this.store.setAccess(decodeAccess(JSON.stringify(change.v)));
        } catch (err) {
          if (!(err instanceof RecordError)) throw err;
          this.reportOnce('access', err.message);
        }
      }
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'cluster token change could not be applied, reloading');
      this.resyncWanted = true;
      this.requestSync();
      return;
    }
    this.appliedRev = change.r;
    this.releaseWaiters(change.r);
  }

  private applyRecord(hash: string, raw: string): boolean {
    let record: TokenRecord;
    try {
      record = decodeRecord(hash, raw, this.seal, (h) => this.names.get(h));
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      this.reportOnce(hash, err.message);
      return false;
    }
    // A stale local token still holding the port (missed removal): the change in Redis wins.
    const own = this.store.get(record.token);
    const keepsPort = record.kind === 'reverse' && own?.kind === 'reverse' && own.port === record.port;
    if (record.kind === 'reverse' && record.port > 0 && !keepsPort && this.store.ports.isAllocated(record.port)) {
      const holder = this.store.list().find((r) => r.kind === 'reverse' && r.port === record.port && r.token !== record.token);
      if (holder !== undefined) this.store.remove(holder.token);
    }
    this.store.put(record);
    return true;
  }

  private reportOnce(key: string, problem: string): void {
    if (this.reported.has(key) || this.reported.size >= MAX_REPORTED) return;
    this.reported.add(key);
    // The key is a hash, never a token: safe to log.
    this.logger.warn({ record: key, problem }, 'cluster store (Redis): record skipped');
  }

  // ---- internals: full load -------------------------------------------------------------------

  /** Starts a full load unless one is running (which then loads once more at its end if asked). */
  private requestSync(): void {
    if (this.closed) return;
    this.stale = true;
    if (this.syncing !== undefined) {
      this.resyncWanted = true;
      return;
    }
    this.fullSync().catch((err: unknown) => {
      if (this.closed) return;
      const code = err instanceof ClusterError ? err.code : undefined;
      const now = Date.now();
      if (code !== 'ERR_CLUSTER_UNAVAILABLE' && now - this.lastSyncErrorLog >= SYNC_ERROR_LOG_EVERY_MS) {
        this.lastSyncErrorLog = now;
        this.logger.error({ err: (err as Error).message, code }, 'cluster store (Redis) cannot be loaded; serving the tokens known here');
      }
      // While Redis is down the next 'up' retries; otherwise try again shortly.
      if (this.redis.isUp) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.requestSync(), 1_000);
        this.retryTimer.unref();
      }
    });
  }

  private fullSync(): Promise<void> {
    if (this.syncing !== undefined) return this.syncing;
    this.stale = true;
    this.syncing = (async () => {
      try {
        do {
          this.resyncWanted = false;
          await this.loadOnce();
        } while (this.resyncWanted && !this.closed);
        this.stale = false;
      } finally {
        this.syncing = undefined;
      }
      this.releaseWaiters(this.appliedRev);
    })();
    return this.syncing;
  }

  private async loadOnce(): Promise<void> {
    for (let round = 0; round < 5; round++) {
      this.queue = [];
      const snapshot = await this.snapshot();
      if (snapshot.epoch === null) {
        await this.seed('init', this.epoch ?? randomBytes(8).toString('hex'));
        continue;
      }
      if (snapshot.check === null || this.seal.open(snapshot.check, CHECK_BINDING) !== CHECK_TEXT) {
        throw new ClusterError('ERR_CLUSTER_AUTH', 'the cluster secret does not match the one the tokens in Redis were sealed with');
      }
      if (this.epoch !== undefined && snapshot.epoch !== this.epoch && this.store.list().length > 0) {
        // Redis lost its data and another instance started a new set: add what only we know.
        this.logger.warn('cluster store (Redis) holds a new data set; adding the tokens known here that it lacks');
        await this.seed('merge', snapshot.epoch);
        // Only once written: a merge cut short by an outage is tried again, not skipped.
        this.epoch = snapshot.epoch;
        continue;
      }
      const started = Date.now();
      this.reconcile(snapshot);
      this.epoch = snapshot.epoch;
      this.appliedRev = snapshot.rev;
      // Changes that arrived during the load, in order (those included in the snapshot are skipped).
      const queued = this.queue.sort((a, b) => (a.r ?? 0) - (b.r ?? 0));
      this.queue = [];
      for (const change of queued) {
        if (change.op === 'reload' || change.e !== this.epoch) continue;
        if ((change.r ?? 0) <= this.appliedRev) continue;
        if (change.r !== this.appliedRev + 1) {
          this.resyncWanted = true;
          break;
        }
        this.applyChange(change);
      }
      this.logger.debug({ tokens: Object.keys(snapshot.tokens).length, ms: Date.now() - started }, 'cluster tokens loaded');
      return;
    }
    throw new ClusterError('ERR_CLUSTER_UNAVAILABLE', 'cluster store (Redis) kept changing during the load; try again later');
  }

  private async snapshot(): Promise<Snapshot> {
    const p = this.prefix;
    const replies = await this.wrap(() =>
      this.redis.commands.multi().get(`${p}epoch`).get(`${p}check`).get(`${p}rev`).hGetAll(`${p}tokens`).get(`${p}access`).exec(),
    );
    const [epoch, check, rev, tokens, access] = replies as unknown as [string | null, string | null, string | null, Record<string, string>, string | null];
    return { epoch, check, rev: Number(rev ?? 0), tokens: { ...tokens }, access };
  }

  /** Makes the local store hold exactly the snapshot (stale tokens first, so their ports are free). */
  private reconcile(snapshot: Snapshot): void {
    const entries = Object.entries(snapshot.tokens).sort((a, b) => loadRank(a[1]) - loadRank(b[1]));
    for (const record of this.store.list()) {
      if (snapshot.tokens[record.hash] === undefined && this.store.has(record.token)) this.store.remove(record.token);
    }
    for (const [hash, raw] of entries) this.applyRecord(hash, raw);
    if (snapshot.access !== null) {
      try {
        this.store.setAccess(decodeAccess(snapshot.access));
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        this.reportOnce('access', err.message);
      }
    } else {
      this.store.setAccess({ entry: AccessRules.none, dial: AccessRules.none });
    }
  }

  /** Writes the local view into Redis ('init': Redis is empty; 'merge': only what it lacks). */
  private async seed(mode: 'init' | 'merge', epoch: string): Promise<void> {
    const records = this.store.list().sort((a, b) => rank(a) - rank(b));
    const args = [this.prefix, mode, epoch, this.seal.seal(CHECK_TEXT, CHECK_BINDING)];
    const { entry, dial } = this.store.access;
    args.push(entry.isEmpty && dial.isEmpty ? '' : JSON.stringify({ entry: entry.toJSON(), dial: dial.toJSON() }));
    for (const record of records) {
      const stored = encodeRecord(record, this.seal);
      args.push(record.hash, JSON.stringify(stored), record.kind === 'reverse' && record.port > 0 ? String(record.port) : '0', ownerOf(stored));
    }
    const result = await this.evalScript(SEED_SCRIPT, args);
    if (Number(result) > 0) {
      this.logger.warn({ mode, tokens: Number(result) - 1 }, mode === 'init' && records.length > 0
        ? 'cluster store (Redis) was empty; re-seeded it with the tokens known here'
        : 'cluster store (Redis): tokens known here written back');
    }
  }
}

function rank(record: TokenRecord): number {
  return record.kind === 'connector' ? 2 : isInternal(record) ? 1 : 0;
}

