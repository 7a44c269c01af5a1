/**
 * The form of a token record in Redis (version 1), and its checks. A record is stored under the
 * token's SHA-256 hex; the token and the SOCKS password are sealed (token-seal.ts); everything
 * else (kind, port, SOCKS user name, rules, strategy, policy) is plain JSON. Connector and internal
 * autonomy tokens name their reverse/autonomy token by its hash, never by the token.
 */
import { AccessRuleError, AccessRules } from '../access/index.js';
import { isProviderStrategy, type ProviderStrategy } from '../server/provider-strategy.js';
import type { TokenPolicy } from '../server/token-policy.js';
import { isInternal, makeTokenRecord } from '../server/token-store.js';
import type {
  ConnectorTokenRecord,
  ForwardTokenRecord,
  InternalTokenRecord,
  PlainReverseTokenRecord,
  TokenRecord,
} from '../server/tokens.js';
import { sha256Hex } from '../util/secrets.js';
import type { TokenSeal } from './token-seal.js';

export const RECORD_VERSION = 1;

/** What is written to Redis. `internal`: an autonomy provider's private pool. */
export interface StoredRecord {
  version: typeof RECORD_VERSION;
  kind: 'forward' | 'reverse' | 'internal' | 'connector';
  /** The token, sealed. */
  token: string;
  /** SOCKS port; -1 for autonomy and internal tokens; reverse kinds only. */
  port?: number;
  username?: string;
  /** The SOCKS password, sealed. */
  password?: string;
  allowManageConnector?: boolean;
  rules?: unknown[];
  strategy?: ProviderStrategy;
  policy?: TokenPolicy;
  /** Connector tokens: the hash of their reverse (or internal) token. */
  target?: string;
  /** Internal tokens: the hash of their autonomy token. */
  parent?: string;
}

/** A record in Redis that cannot be used (hand-written, newer version, other secret). */
export class RecordError extends Error {}

/** The Redis form of a store record: `hashOf` names connector targets and internal parents. */
export function encodeRecord(record: TokenRecord, seal: TokenSeal): StoredRecord {
  const stored: StoredRecord = { version: RECORD_VERSION, kind: record.kind, token: seal.seal(record.token, record.hash) };
  if (record.kind === 'connector') {
    stored.target = sha256Hex(record.reverseToken);
  } else if (record.kind === 'reverse') {
    if (isInternal(record)) {
      stored.kind = 'internal';
      stored.parent = sha256Hex(record.parentToken);
    }
    stored.port = record.port;
    if (record.username !== undefined) stored.username = record.username;
    if (record.password !== undefined) stored.password = seal.seal(record.password, record.hash);
    if (record.allowManageConnector === true) stored.allowManageConnector = true;
    if (record.strategy !== undefined) stored.strategy = record.strategy;
  }
  if (record.rules !== undefined) stored.rules = record.rules.toJSON();
  if (record.policy !== undefined) stored.policy = record.policy;
  return stored;
}

/**
 * A store record from its Redis form. `nameOf` maps a hash to a token the store already holds
 * (targets and parents are loaded first). Throws RecordError saying what is wrong.
 */
export function decodeRecord(hash: string, raw: string, seal: TokenSeal, nameOf: (hash: string) => string | undefined): TokenRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new RecordError('not JSON');
  }
  if (!isObject(value)) throw new RecordError('not a JSON object');
  if (value['version'] !== RECORD_VERSION) throw new RecordError(`unsupported version ${JSON.stringify(value['version'])}`);
  if (typeof value['token'] !== 'string') throw new RecordError('no sealed token');
  const token = seal.open(value['token'], hash);
  if (token === undefined) throw new RecordError('token cannot be opened with this cluster secret');
  if (sha256Hex(token) !== hash) throw new RecordError('token does not match its key');
  const common = { token, ...rulesOf(value['rules']), ...policyOf(value['policy']) };
  const kind = value['kind'];
  switch (kind) {
    case 'forward':
      return makeTokenRecord<ForwardTokenRecord>({ ...common, kind: 'forward' });
    case 'connector': {
      const reverseToken = nameOf(stringField(value, 'target'));
      if (reverseToken === undefined) throw new RecordError('connector token whose reverse token is unknown');
      return makeTokenRecord<ConnectorTokenRecord>({ ...common, kind: 'connector', reverseToken });
    }
    case 'reverse':
    case 'internal': {
      const port = value['port'];
      if (typeof port !== 'number' || !Number.isInteger(port) || port < -1 || port > 65535 || port === 0) throw new RecordError('"port" is not -1 or a port number');
      const username = value['username'];
      if (username !== undefined && typeof username !== 'string') throw new RecordError('"username" is not a string');
      let password: string | undefined;
      if (value['password'] !== undefined) {
        password = seal.open(stringField(value, 'password'), hash);
        if (password === undefined) throw new RecordError('password cannot be opened with this cluster secret');
      }
      const allow = value['allowManageConnector'];
      if (allow !== undefined && typeof allow !== 'boolean') throw new RecordError('"allowManageConnector" is not a boolean');
      const strategy = value['strategy'];
      if (strategy !== undefined && !isProviderStrategy(strategy)) throw new RecordError('unknown strategy');
      if (port === -1 && allow !== true && kind === 'reverse') throw new RecordError('reverse token without a port that is not an autonomy token');
      const fields = {
        ...common,
        kind: 'reverse' as const,
        port,
        ...(username !== undefined && { username }),
        ...(password !== undefined && { password }),
        ...(allow === true && { allowManageConnector: true }),
        ...(strategy !== undefined && { strategy }),
      };
      if (kind === 'reverse') return makeTokenRecord<PlainReverseTokenRecord>(fields);
      const parentToken = nameOf(stringField(value, 'parent'));
      if (parentToken === undefined) throw new RecordError('internal token whose autonomy token is unknown');
      return makeTokenRecord<InternalTokenRecord>({ ...fields, internal: true, parentToken });
    }
    default:
      throw new RecordError(`unknown kind ${JSON.stringify(kind)}`);
  }
}

/** Load order: a record's target or parent comes before it. */
export function loadRank(raw: string): number {
  // Cheap peek at the kind without a second full parse; unknown kinds sort last and fail in decode.
  const kind = /"kind"\s*:\s*"(\w+)"/.exec(raw)?.[1];
  return kind === 'forward' || kind === 'reverse' ? 0 : kind === 'internal' ? 1 : 2;
}

/** The hash a record depends on (connector target, internal parent), '' for none. */
export function ownerOf(stored: StoredRecord): string {
  return stored.target ?? stored.parent ?? '';
}

/** Server-wide access rules from their Redis form (Go's output form per side). */
export function decodeAccess(raw: string): { entry: AccessRules; dial: AccessRules } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new RecordError('access rules: not JSON');
  }
  if (!isObject(value)) throw new RecordError('access rules: not a JSON object');
  try {
    return { entry: AccessRules.parse(value['entry'] ?? [], 'access.entry'), dial: AccessRules.parse(value['dial'] ?? [], 'access.dial') };
  } catch (err) {
    if (err instanceof AccessRuleError) throw new RecordError(`access rules: ${err.message}`);
    throw err;
  }
}

function rulesOf(value: unknown): { rules?: AccessRules } {
  if (value === undefined) return {};
  try {
    const rules = AccessRules.parse(value, 'rules');
    return rules.isEmpty ? {} : { rules };
  } catch (err) {
    if (err instanceof AccessRuleError) throw new RecordError(err.message);
    throw err;
  }
}

const POLICY_NUMBERS = ['maxChannels', 'rateLimit', 'quotaBytes', 'quotaPeriodMs', 'expiresAt'] as const;

/** Known fields only, in a fixed order (records compare by their JSON); wrong types are refused. */
function policyOf(value: unknown): { policy?: TokenPolicy } {
  if (value === undefined) return {};
  if (!isObject(value)) throw new RecordError('"policy" is not an object');
  const policy: Record<string, number | boolean> = {};
  for (const key of POLICY_NUMBERS) {
    const field = value[key];
    if (field === undefined) continue;
    if (typeof field !== 'number' || !Number.isFinite(field) || field < 0) throw new RecordError(`"policy.${key}" is not a number`);
    policy[key] = field;
  }
  if (value['disabled'] !== undefined) {
    if (typeof value['disabled'] !== 'boolean') throw new RecordError('"policy.disabled" is not a boolean');
    policy['disabled'] = value['disabled'];
  }
  return Object.keys(policy).length === 0 ? {} : { policy: policy as TokenPolicy };
}

function stringField(value: Record<string, unknown>, key: string): string {
  const field = value[key];
  if (typeof field !== 'string' || field === '') throw new RecordError(`"${key}" is not a non-empty string`);
  return field;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
