/**
 * Token bookkeeping of the server (../shared/spec/API.md §6, MODES.md §4.1, §5, §6): which tokens
 * exist, of which kind, with which SOCKS port and options, and which connector token maps to which
 * reverse token. It knows nothing about connections: it emits 'added' and 'removed' with the
 * affected record so the server can open/close listeners and drop connections, and 'changed'
 * (record, before) when update() changed a token's policy or strategy.
 *
 * With a state file (beyond Go) every change is written to disk before the method returns; a
 * change that cannot be written is undone and the StateFileError thrown.
 */
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../util/secrets.js';
import { EventEmitter } from 'node:events';
import { TOKEN_ERROR_TEXT, TokenError } from './token-error.js';
import type {
  ConnectorTokenRecord,
  ForwardTokenRecord,
  InternalTokenRecord,
  PlainReverseTokenRecord,
  ReverseTokenOptions,
  TokenRecord,
  TokenStatus,
  TokenUsage,
} from './tokens.js';
import type { PortRange } from './options.js';
import type { TokenPolicy } from './token-policy.js';
import { applyPolicyChange, policyToJson, type TokenPolicyChange } from './token-policy-input.js';
import { AccessRuleError, AccessRules } from '../access/index.js';
import { PortPool } from './port-pool.js';
import { isProviderStrategy, strategyError } from './provider-strategy.js';
import {
  STATE_FILE_VERSION,
  StateFileError,
  readStateFile,
  writeStateFile,
  type PersistedToken,
  type PersistedUsage,
  type TokenState,
} from './state-file.js';

export type { TokenRecord } from './tokens.js';

export interface TokenStoreOptions {
  /** Range for automatically chosen SOCKS ports; default 1024–10240. */
  portRange?: PortRange;
  /** Persist tokens here; memory only when absent. */
  stateFile?: string;
}

/** The store's form of a reverse token's options: rules parsed, policy checked. */
export type StoreReverseOptions = Omit<ReverseTokenOptions, 'rules' | 'policy'> & { rules?: AccessRules; policy?: TokenPolicy };

/** Server-wide access rules (GET/PUT /api/config/access). */
export interface ServerAccessRules {
  /** Requests on reverse-token SOCKS ports (a token's own rules replace these for its port). */
  entry: AccessRules;
  /** Targets the server dials for forward clients. */
  dial: AccessRules;
}

export interface TokenStoreEvents {
  added: [record: TokenRecord];
  removed: [record: TokenRecord];
  /** [linksocks-ts] update() replaced a record (policy or strategy changed); `before` is the old one. */
  changed: [record: TokenRecord, before: TokenRecord];
}

/** Go's reserved name: what a Go client uses when started without a token (SESSION.md §3.4). */
export const ANONYMOUS_TOKEN = 'anonymous';

/** 8 random bytes as 16 lower-case hex digits, like Go's generateRandomToken(16). */
export function generateToken(): string {
  return randomBytes(8).toString('hex');
}

export class TokenStore extends EventEmitter<TokenStoreEvents> {
  readonly ports: PortPool;
  readonly stateFile: string | undefined;
  private readonly records = new Map<string, TokenRecord>();
  private readonly byHash = new Map<string, TokenRecord>();
  /** reverse/internal token → its connector tokens, in insertion order. */
  private readonly connectorsByTarget = new Map<string, Set<string>>();
  /** autonomy token → its internal tokens. */
  private readonly internalsByParent = new Map<string, Set<string>>();
  private accessRules: ServerAccessRules = { entry: AccessRules.none, dial: AccessRules.none };
  /** Token usage as the state file had it when loaded (TokenAccounts.restore). */
  readonly savedUsage: Readonly<Record<string, PersistedUsage>> | undefined;
  /** Where persist() gets the usage section from (TokenAccounts.snapshot). */
  private usageSource: (() => Record<string, PersistedUsage>) | undefined;

  /**
   * Loads `stateFile` when given (creating it, empty, when missing so that an unwritable location
   * fails now rather than at the first change). Throws StateFileError for an unreadable or
   * inconsistent file, which is then left untouched.
   */
  constructor(options: TokenStoreOptions = {}) {
    super();
    this.ports = new PortPool(options.portRange);
    this.stateFile = options.stateFile;
    if (this.stateFile === undefined) return;
    const state = readStateFile(this.stateFile);
    if (state === undefined) {
      this.persist();
      return;
    }
    this.restore(this.stateFile, state);
    this.savedUsage = state.usage;
  }

  /** [linksocks-ts] Makes every write of the state file include the usage section from `source`. */
  setUsageSource(source: () => Record<string, PersistedUsage>): void {
    this.usageSource = source;
  }

  /** [linksocks-ts] Writes the state file now (for the usage section); no-op without a state file. */
  saveUsage(): void {
    this.persist();
  }

  /** Server-wide access rules, as last set (or loaded from the state file). */
  get access(): ServerAccessRules {
    return this.accessRules;
  }

  /** Replaces the given sides (an absent side stays); persisted, undone when the write fails. */
  setAccess(change: Partial<ServerAccessRules>): void {
    const before = this.accessRules;
    this.accessRules = { entry: change.entry ?? before.entry, dial: change.dial ?? before.dial };
    try {
      this.persist();
    } catch (err) {
      this.accessRules = before;
      throw err;
    }
  }

  addForward(token?: string, rules?: AccessRules, policy?: TokenPolicy): TokenRecord {
    const name = this.chooseName(token, TOKEN_ERROR_TEXT.reserved, TOKEN_ERROR_TEXT.exists, 'ERR_LINKSOCKS_TOKEN_EXISTS');
    return this.commitAdd(this.makeRecord<ForwardTokenRecord>({ token: name, kind: 'forward', ...withRules(rules), ...withPolicy(policy) }));
  }

  /** Autonomy tokens (allowManageConnector) get port -1 and take nothing from the pool. */
  addReverse(request: StoreReverseOptions = {}): PlainReverseTokenRecord {
    if (request.strategy !== undefined && !isProviderStrategy(request.strategy)) {
      throw new TokenError('ERR_LINKSOCKS_INVALID_STRATEGY', strategyError(request.strategy));
    }
    const name = this.chooseName(request.token, TOKEN_ERROR_TEXT.reserved, TOKEN_ERROR_TEXT.exists, 'ERR_LINKSOCKS_TOKEN_EXISTS');
    const autonomy = request.allowManageConnector === true;
    const port = autonomy ? -1 : this.ports.allocate(request.port ?? 0);
    const record = this.makeRecord<PlainReverseTokenRecord>({
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
    return this.commitAdd(record); // undoes the port allocation itself when the write fails
  }

  /**
   * Maps a connector token to a reverse or internal token. Re-adding an existing mapping
   * succeeds without change (Go HEAD, MODES.md §5.3); any other existing name fails.
   */
  addConnector(token: string | undefined, reverseToken: string, rules?: AccessRules, policy?: TokenPolicy): ConnectorTokenRecord {
    if (token === ANONYMOUS_TOKEN) {
      throw new TokenError('ERR_LINKSOCKS_TOKEN_RESERVED', TOKEN_ERROR_TEXT.reservedConnector);
    }
    const target = this.records.get(reverseToken);
    if (target === undefined || target.kind !== 'reverse') {
      throw new TokenError('ERR_LINKSOCKS_REVERSE_TOKEN_UNKNOWN', TOKEN_ERROR_TEXT.reverseUnknown);
    }
    if (token !== undefined && token !== '') {
      const existing = this.records.get(token);
      // Idempotent only when nothing would change: other rules must not be dropped silently.
      if (
        existing?.kind === 'connector' &&
        existing.reverseToken === reverseToken &&
        sameRules(existing.rules, rules) &&
        (policy === undefined || JSON.stringify(existing.policy) === JSON.stringify(policy))
      ) {
        return existing;
      }
    }
    const name = this.chooseName(token, TOKEN_ERROR_TEXT.reservedConnector, TOKEN_ERROR_TEXT.connectorExists, 'ERR_LINKSOCKS_CONNECTOR_EXISTS');
    return this.commitAdd(
      this.makeRecord<ConnectorTokenRecord>({ token: name, kind: 'connector', reverseToken, ...withRules(rules), ...withPolicy(policy) }),
    );
  }

  /**
   * Registers the internal token of a provider connection of autonomy token `parentToken`, with
   * the parent's options. Idempotent for the same parent. Not persisted: providers create them
   * again when they reconnect.
   */
  addInternal(parentToken: string, internalToken: string): InternalTokenRecord {
    const parent = this.records.get(parentToken);
    if (parent === undefined || parent.kind !== 'reverse' || parent.internal === true) {
      throw new TokenError('ERR_LINKSOCKS_REVERSE_TOKEN_UNKNOWN', TOKEN_ERROR_TEXT.reverseUnknown);
    }
    const existing = this.records.get(internalToken);
    if (existing !== undefined) {
      if (isInternal(existing) && existing.parentToken === parentToken) return existing;
      throw new TokenError('ERR_LINKSOCKS_TOKEN_EXISTS', TOKEN_ERROR_TEXT.exists);
    }
    if (internalToken === '' || internalToken === ANONYMOUS_TOKEN) {
      throw new TokenError('ERR_LINKSOCKS_TOKEN_RESERVED', TOKEN_ERROR_TEXT.reserved);
    }
    return this.commitAdd(
      this.makeRecord<InternalTokenRecord>({
        token: internalToken,
        kind: 'reverse',
        port: -1,
        ...(parent.username !== undefined && { username: parent.username }),
        ...(parent.password !== undefined && { password: parent.password }),
        ...(parent.allowManageConnector === true && { allowManageConnector: true }),
        ...(parent.strategy !== undefined && { strategy: parent.strategy }),
        internal: true,
        parentToken,
      }),
    );
  }

  /**
   * Removes a token and everything that depends on it: a reverse token takes its connector
   * tokens, its internal tokens and their connector tokens with it and frees its port. Returns
   * the removed records, dependants first; [] for an unknown token.
   */
  remove(token: string): TokenRecord[] {
    const record = this.records.get(token);
    if (record === undefined) return [];
    const removed: TokenRecord[] = [];
    const collect = (victim: TokenRecord): void => {
      for (const internal of this.internalsByParent.get(victim.token) ?? []) collect(this.records.get(internal)!);
      for (const connector of this.connectorsByTarget.get(victim.token) ?? []) removed.push(this.records.get(connector)!);
      removed.push(victim);
    };
    collect(record);
    const needsWrite = removed.some((victim) => this.isPersisted(victim));
    for (const victim of removed) this.unlink(victim);
    if (needsWrite) {
      try {
        this.persist();
      } catch (err) {
        for (const victim of removed) this.link(victim);
        throw err;
      }
    }
    for (const victim of removed) this.emit('removed', victim);
    return removed;
  }

  /**
   * [linksocks-ts] Changes a token's policy (and a reverse token's strategy) in place: the whole
   * change is checked first (TokenError naming the field, nothing changed), then the record is
   * replaced, persisted (undone when the write fails) and 'changed' emitted with the old record.
   * Unknown token: TokenError ERR_LINKSOCKS_TOKEN_UNKNOWN.
   */
  update(token: string, change: TokenPolicyChange): TokenRecord {
    const before = this.records.get(token);
    const after = this.updated(token, change);
    this.replace(after);
    if (this.isPersisted(after)) {
      try {
        this.persist();
      } catch (err) {
        this.replace(before!);
        throw err;
      }
    }
    this.emit('changed', after, before!);
    return after;
  }

  /** The record `update` would make (checked the same way), without changing anything. */
  updated(token: string, change: TokenPolicyChange): TokenRecord {
    const before = this.records.get(token);
    if (before === undefined) throw new TokenError('ERR_LINKSOCKS_TOKEN_UNKNOWN', TOKEN_ERROR_TEXT.unknown);
    const policy = applyPolicyChange(before.policy, change);
    if (change.strategy !== undefined) {
      if (before.kind !== 'reverse') {
        throw new TokenError('ERR_LINKSOCKS_INVALID_POLICY', 'strategy: only reverse tokens take a strategy', 'strategy');
      }
      if (change.strategy !== null && !isProviderStrategy(change.strategy)) {
        throw new TokenError('ERR_LINKSOCKS_INVALID_POLICY', strategyError(change.strategy), 'strategy');
      }
    }
    const { hash: _hash, policy: _policy, ...fields } = before as TokenRecord & { strategy?: unknown };
    if (change.strategy === null) delete fields.strategy;
    else if (change.strategy !== undefined) fields.strategy = change.strategy;
    return this.makeRecord<TokenRecord>({ ...fields, ...withPolicy(policy) } as Omit<TokenRecord, 'hash'>);
  }

  /**
   * [cluster] Makes the store hold exactly `record`, as the cluster store (Redis) has it: added when
   * new; replaced in place when only settings changed (rules, policy, credentials, strategy), so
   * open connections stay; removed (with its dependants, clients dropped) and added again when its
   * kind, port or target changed. Never persisted: a cluster has no state file.
   */
  put(record: TokenRecord): 'added' | 'replaced' | 'unchanged' {
    const existing = this.records.get(record.token);
    if (existing !== undefined) {
      if (sameSettings(existing, record)) return 'unchanged';
      if (sameShape(existing, record)) {
        this.replace(record);
        this.emit('changed', record, existing);
        return 'replaced';
      }
      this.remove(record.token);
    }
    this.link(record);
    this.emit('added', record);
    return 'added';
  }

  get(token: string): TokenRecord | undefined {
    return this.records.get(token);
  }

  /**
   * Lookup for URL-query authentication by the SHA-256 hex the client sends. Timing: the string
   * compared is a hash key in a Map whose string hashing is seeded per process, so an attacker
   * cannot steer probes into the bucket of a real key, and changing any character changes the
   * bucket; response time therefore does not reveal how much of a guess was right. Internal
   * tokens are not reachable this way (API.md §6).
   */
  getByHash(hash: string): TokenRecord | undefined {
    return this.byHash.get(hash);
  }

  has(token: string): boolean {
    return this.records.has(token);
  }

  /** All records in insertion order. */
  list(): TokenRecord[] {
    return [...this.records.values()];
  }

  connectorsOf(reverseToken: string): string[] {
    return [...(this.connectorsByTarget.get(reverseToken) ?? [])];
  }

  internalsOf(autonomyToken: string): string[] {
    return [...(this.internalsByParent.get(autonomyToken) ?? [])];
  }

  /**
   * `/api/status` entries (API.md §5): reverse entries first, then forward; connector tokens appear
   * only inside their reverse entry.
   */
  statusEntries(
    clientsCount: (token: string) => number,
    options: { includeInternal?: boolean; usage?: (token: string) => TokenUsage } = {},
  ): TokenStatus[] {
    const reverse: TokenStatus[] = [];
    const forward: TokenStatus[] = [];
    // Only tokens with a policy show it (and their usage): the others stay exactly as Go lists them.
    const usageOf = (token: string): TokenUsage => options.usage?.(token) ?? { channels: 0 };
    const policyOf = (record: TokenRecord): Pick<TokenStatus, 'policy' | 'usage'> =>
      record.policy === undefined ? {} : { policy: policyToJson(record.policy), usage: usageOf(record.token) };
    for (const record of this.records.values()) {
      if (record.kind === 'forward') {
        forward.push({ token: record.token, type: 'forward', clients_count: clientsCount(record.token), ...statusRules(record.rules), ...policyOf(record) });
      } else if (record.kind === 'reverse' && (record.internal !== true || options.includeInternal === true)) {
        const connectors = this.connectorsOf(record.token);
        const connectorPolicies = connectors.flatMap((name) => {
          const policy = this.records.get(name)?.policy;
          return policy === undefined ? [] : [{ token: name, policy: policyToJson(policy), usage: usageOf(name) }];
        });
        reverse.push({
          token: record.token,
          type: 'reverse',
          clients_count: clientsCount(record.token),
          port: record.port,
          ...(connectors.length > 0 && { connector_tokens: connectors }),
          ...statusRules(record.rules),
          ...(record.strategy !== undefined && { strategy: record.strategy }),
          ...policyOf(record),
          ...(connectorPolicies.length > 0 && { connector_policies: connectorPolicies }),
        });
      }
    }
    return [...reverse, ...forward];
  }

  private chooseName(
    requested: string | undefined,
    reservedText: string,
    existsText: string,
    existsCode: 'ERR_LINKSOCKS_TOKEN_EXISTS' | 'ERR_LINKSOCKS_CONNECTOR_EXISTS',
  ): string {
    if (requested === undefined || requested === '') {
      let generated = generateToken();
      while (this.records.has(generated)) generated = generateToken();
      return generated;
    }
    if (requested === ANONYMOUS_TOKEN) throw new TokenError('ERR_LINKSOCKS_TOKEN_RESERVED', reservedText);
    if (this.records.has(requested)) throw new TokenError(existsCode, existsText);
    return requested;
  }

  private makeRecord<T extends TokenRecord>(fields: Omit<T, 'hash'>): T {
    return makeTokenRecord<T>(fields);
  }

  private commitAdd<T extends TokenRecord>(record: T): T {
    this.link(record);
    if (this.isPersisted(record)) {
      try {
        this.persist();
      } catch (err) {
        this.unlink(record);
        throw err;
      }
    }
    this.emit('added', record);
    return record;
  }

  /** Inserts a record into every index (ports are the caller's business, except on undo). */
  private link(record: TokenRecord): void {
    this.records.set(record.token, record);
    if (!isInternal(record)) this.byHash.set(record.hash, record);
    if (record.kind === 'connector') addTo(this.connectorsByTarget, record.reverseToken, record.token);
    if (isInternal(record)) addTo(this.internalsByParent, record.parentToken, record.token);
    if (record.kind === 'reverse' && record.port > 0 && !this.ports.isAllocated(record.port)) {
      this.ports.allocate(record.port);
    }
  }

  /** Swaps a record for another of the same token (update and its undo); indexes by name stay. */
  private replace(record: TokenRecord): void {
    this.records.set(record.token, record);
    if (!isInternal(record)) this.byHash.set(record.hash, record);
  }

  private unlink(record: TokenRecord): void {
    this.records.delete(record.token);
    this.byHash.delete(record.hash);
    if (record.kind === 'connector') removeFrom(this.connectorsByTarget, record.reverseToken, record.token);
    if (isInternal(record)) removeFrom(this.internalsByParent, record.parentToken, record.token);
    this.connectorsByTarget.delete(record.token);
    this.internalsByParent.delete(record.token);
    if (record.kind === 'reverse' && record.port > 0) this.ports.release(record.port);
  }

  /**
   * Internal tokens, and connector tokens mapped to them, live only as long as the process: the
   * provider that owns them creates them again when it reconnects (HEAD replays its connectors).
   */
  private isPersisted(record: TokenRecord): boolean {
    if (isInternal(record)) return false;
    if (record.kind !== 'connector') return true;
    const target = this.records.get(record.reverseToken);
    return target === undefined || !isInternal(target);
  }

  private persist(): void {
    if (this.stateFile === undefined) return;
    const tokens: PersistedToken[] = [];
    for (const record of this.records.values()) {
      if (!this.isPersisted(record)) continue;
      const rules = { ...(record.rules && { rules: record.rules.toJSON() }), ...withPolicy(record.policy) };
      if (record.kind === 'forward') tokens.push({ kind: 'forward', token: record.token, ...rules });
      else if (record.kind === 'connector') tokens.push({ kind: 'connector', token: record.token, reverseToken: record.reverseToken, ...rules });
      else {
        tokens.push({
          kind: 'reverse',
          token: record.token,
          port: record.port,
          ...(record.username !== undefined && { username: record.username }),
          ...(record.password !== undefined && { password: record.password }),
          ...(record.allowManageConnector === true && { allowManageConnector: true }),
          ...rules,
          ...(record.strategy !== undefined && { strategy: record.strategy }),
        });
      }
    }
    const state: TokenState = { version: STATE_FILE_VERSION, tokens };
    const { entry, dial } = this.accessRules;
    if (!entry.isEmpty || !dial.isEmpty) state.access = { entry: entry.toJSON(), dial: dial.toJSON() };
    const usage = Object.entries(this.usageSource?.() ?? {}).filter(([token]) => this.records.has(token));
    if (usage.length > 0) state.usage = Object.fromEntries(usage);
    writeStateFile(this.stateFile, state);
  }

  /** Rebuilds the indexes from the file: targets before their connectors, ports as they were. */
  private restore(filePath: string, state: TokenState): void {
    const { tokens } = state;
    const corrupt = (message: string): StateFileError => new StateFileError('ERR_LINKSOCKS_STATE_CORRUPT', filePath, message);
    const rulesOf = (value: unknown, where: string): AccessRules | undefined => {
      try {
        const rules = AccessRules.parse(value, where);
        return rules.isEmpty ? undefined : rules;
      } catch (err) {
        if (err instanceof AccessRuleError) throw corrupt(err.message);
        throw err;
      }
    };
    this.accessRules = {
      entry: rulesOf(state.access?.entry, 'access.entry') ?? AccessRules.none,
      dial: rulesOf(state.access?.dial, 'access.dial') ?? AccessRules.none,
    };
    const ordered = [...tokens.filter((entry) => entry.kind !== 'connector'), ...tokens.filter((entry) => entry.kind === 'connector')];
    for (const persisted of ordered) {
      const { rules: rawRules, policy: rawPolicy, ...entry } = persisted;
      const rules = { ...withRules(rulesOf(rawRules, `token rules`)), ...withPolicy(rawPolicy) };
      if (entry.token === ANONYMOUS_TOKEN) throw corrupt(`token "anonymous" is reserved`);
      if (this.records.has(entry.token)) throw corrupt(`token listed twice`);
      if (entry.kind === 'forward') {
        this.link(this.makeRecord<ForwardTokenRecord>({ token: entry.token, kind: 'forward', ...rules }));
      } else if (entry.kind === 'connector') {
        if (this.records.get(entry.reverseToken)?.kind !== 'reverse') throw corrupt('connector token whose reverse token is not in the file');
        this.link(this.makeRecord<ConnectorTokenRecord>({ token: entry.token, kind: 'connector', reverseToken: entry.reverseToken, ...rules }));
      } else {
        if (entry.port > 0 && this.ports.isAllocated(entry.port)) throw corrupt(`port ${entry.port} used by two reverse tokens`);
        if (entry.port === -1 && entry.allowManageConnector !== true) throw corrupt('reverse token without a port that is not an autonomy token');
        this.link(this.makeRecord<PlainReverseTokenRecord>({ ...entry, kind: 'reverse', ...rules }));
      }
    }
  }
}

/** A frozen record with its hash, as the store keeps it (the cluster store builds them from Redis). */
export function makeTokenRecord<T extends TokenRecord>(fields: Omit<T, 'hash'>): T {
  return Object.freeze({ ...fields, hash: sha256Hex(fields.token) }) as T;
}

/** Same kind, port, target and parent: a change between them can be applied in place. */
function sameShape(a: TokenRecord, b: TokenRecord): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'connector') return b.kind === 'connector' && a.reverseToken === b.reverseToken;
  if (a.kind === 'forward') return true;
  if (b.kind !== 'reverse' || a.port !== b.port || isInternal(a) !== isInternal(b)) return false;
  return !isInternal(a) || (isInternal(b) && a.parentToken === b.parentToken);
}

function sameSettings(a: TokenRecord, b: TokenRecord): boolean {
  if (!sameShape(a, b) || !sameRules(a.rules, b.rules) || JSON.stringify(a.policy ?? {}) !== JSON.stringify(b.policy ?? {})) return false;
  if (a.kind !== 'reverse' || b.kind !== 'reverse') return true;
  return a.username === b.username && a.password === b.password && a.allowManageConnector === b.allowManageConnector && a.strategy === b.strategy;
}

/** Rules are kept on a record only when there are some. */
export function withRules(rules: AccessRules | undefined): { rules?: AccessRules } {
  return rules === undefined || rules.isEmpty ? {} : { rules };
}

/** A policy is kept on a record only when it has a field. */
export function withPolicy(policy: TokenPolicy | undefined): { policy?: TokenPolicy } {
  return policy === undefined || Object.keys(policy).length === 0 ? {} : { policy };
}

/** Equal rule lists (as written out). */
export function sameRules(a: AccessRules | undefined, b: AccessRules | undefined): boolean {
  return JSON.stringify(a?.toJSON() ?? []) === JSON.stringify(b?.toJSON() ?? []);
}

function statusRules(rules: AccessRules | undefined): { rules?: ReturnType<AccessRules['toJSON']> } {
  return rules === undefined ? {} : { rules: rules.toJSON() };
}

/** An autonomy internal token (see InternalTokenRecord). */
export function isInternal(record: TokenRecord): record is InternalTokenRecord {
  return record.kind === 'reverse' && record.internal === true;
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (set === undefined) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}
