/**
 * Persistent token state (beyond Go, whose tokens live in memory only): one JSON file, replaced
 * atomically on every change so that a change acknowledged to the caller survives a crash or
 * SIGKILL. The file holds secrets (tokens, SOCKS passwords), hence mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { LinkSocksError } from '../errors.js';
import { isProviderStrategy, strategyError, type ProviderStrategy } from './provider-strategy.js';
import * as fs from 'node:fs';
import type { TokenPolicy } from './token-policy.js';
import { checkStoredPolicy } from './token-policy-input.js';
import * as path from 'node:path';

export const STATE_FILE_VERSION = 1;

/** Refuse absurd files instead of reading them whole into memory. */
const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

export type StateFileErrorCode =
  | 'ERR_LINKSOCKS_STATE_READ'
  | 'ERR_LINKSOCKS_STATE_CORRUPT'
  | 'ERR_LINKSOCKS_STATE_WRITE';

export class StateFileError extends LinkSocksError {
  override readonly name = 'StateFileError';
  declare readonly code: StateFileErrorCode;
  readonly path: string;

  constructor(code: StateFileErrorCode, filePath: string, message: string, cause?: unknown) {
    super(code, `state file ${filePath}: ${message}`, { cause });
    this.path = filePath;
  }
}

/** Access rules as stored: Go's output form (AccessRules.toJSON), checked when loaded. */
export type PersistedRules = unknown[];

export type PersistedToken = (
  | { kind: 'forward'; token: string }
  | {
      kind: 'reverse';
      token: string;
      /** -1 for autonomy tokens. */
      port: number;
      username?: string;
      password?: string;
      allowManageConnector?: boolean;
      strategy?: ProviderStrategy;
    }
  | { kind: 'connector'; token: string; reverseToken: string }
) & { rules?: PersistedRules; policy?: TokenPolicy };

export interface TokenState {
  version: typeof STATE_FILE_VERSION;
  tokens: PersistedToken[];
  /** Server-wide access rules; absent in files written before access control (they load as none). */
  access?: { entry?: PersistedRules; dial?: PersistedRules };
  /**
   * [linksocks-ts] What each token moved (rate and quota accounting), by token; absent in older
   * files (usage then starts at zero). Written with every token change and periodically.
   */
  usage?: Record<string, PersistedUsage>;
}

export interface PersistedUsage {
  bytesUp: number;
  bytesDown: number;
  quotaUsed: number;
  /** ms since the epoch. */
  periodStart: number;
}

/** Reads and checks the file's shape; undefined when it does not exist. Never modifies it. */
export function readStateFile(filePath: string): TokenState | undefined {
  let text: string;
  try {
    const size = fs.statSync(filePath).size;
    if (size > MAX_STATE_FILE_BYTES) {
      throw new StateFileError('ERR_LINKSOCKS_STATE_READ', filePath, `larger than ${MAX_STATE_FILE_BYTES} bytes`);
    }
    text = fs.readFileSync(filePath, 'utf8');
  } catch (cause) {
    if (cause instanceof StateFileError) throw cause;
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError('ERR_LINKSOCKS_STATE_READ', filePath, `cannot be read: ${(cause as Error).message}`, cause);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new StateFileError('ERR_LINKSOCKS_STATE_CORRUPT', filePath, `is not valid JSON: ${(cause as Error).message}`, cause);
  }
  return checkState(filePath, parsed);
}

function checkState(filePath: string, parsed: unknown): TokenState {
  const corrupt = (what: string): StateFileError =>
    new StateFileError('ERR_LINKSOCKS_STATE_CORRUPT', filePath, what);
  if (!isObject(parsed)) throw corrupt('top level is not a JSON object');
  if (parsed['version'] !== STATE_FILE_VERSION) {
    throw corrupt(`unsupported version ${JSON.stringify(parsed['version'])} (expected ${STATE_FILE_VERSION})`);
  }
  const tokens = parsed['tokens'];
  if (!Array.isArray(tokens)) throw corrupt('"tokens" is not an array');
  const checked = tokens.map((entry: unknown, index): PersistedToken => {
    const bad = (what: string): StateFileError => corrupt(`tokens[${index}]: ${what}`);
    if (!isObject(entry)) throw bad('not an object');
    let token = checkToken(entry, bad);
    if (entry['policy'] !== undefined) {
      const policy = checkStoredPolicy(entry['policy']);
      if (typeof policy === 'string') throw bad(policy);
      token = { ...token, policy };
    }
    const rules = entry['rules'];
    if (rules === undefined) return token;
    if (!Array.isArray(rules)) throw bad('"rules" is not an array');
    return { ...token, rules };
  });
  const state: TokenState = { version: STATE_FILE_VERSION, tokens: checked };
  const access = parsed['access'];
  if (access !== undefined) {
    if (!isObject(access)) throw corrupt('"access" is not an object');
    state.access = {};
    for (const side of ['entry', 'dial'] as const) {
      const rules = access[side];
      if (rules === undefined || rules === null) continue;
      if (!Array.isArray(rules)) throw corrupt(`"access.${side}" is not an array`);
      state.access[side] = rules;
    }
  }
  const usage = parsed['usage'];
  if (usage !== undefined) state.usage = checkUsage(usage, corrupt);
  return state;
}

function checkUsage(usage: unknown, corrupt: (what: string) => StateFileError): Record<string, PersistedUsage> {
  if (!isObject(usage)) throw corrupt('"usage" is not an object');
  const checked: Record<string, PersistedUsage> = {};
  for (const [token, entry] of Object.entries(usage)) {
    if (!isObject(entry)) throw corrupt('usage entry is not an object');
    const numbers: number[] = [];
    for (const key of ['bytesUp', 'bytesDown', 'quotaUsed', 'periodStart'] as const) {
      const value = entry[key];
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw corrupt(`usage entry: "${key}" is not a non-negative number`);
      numbers.push(value);
    }
    const [bytesUp, bytesDown, quotaUsed, periodStart] = numbers as [number, number, number, number];
    checked[token] = { bytesUp, bytesDown, quotaUsed, periodStart };
  }
  return checked;
}

function checkToken(entry: Record<string, unknown>, bad: (what: string) => StateFileError): PersistedToken {
  {
    const token = entry['token'];
    if (typeof token !== 'string' || token === '') throw bad('"token" is not a non-empty string');
    switch (entry['kind']) {
      case 'forward':
        return { kind: 'forward', token };
      case 'connector': {
        const reverseToken = entry['reverseToken'];
        if (typeof reverseToken !== 'string' || reverseToken === '') throw bad('"reverseToken" is not a non-empty string');
        return { kind: 'connector', token, reverseToken };
      }
      case 'reverse': {
        const port = entry['port'];
        if (typeof port !== 'number' || !Number.isInteger(port) || port < -1 || port > 65535 || port === 0) {
          throw bad('"port" is not -1 or a port number');
        }
        const record: PersistedToken = { kind: 'reverse', token, port };
        for (const key of ['username', 'password'] as const) {
          const value = entry[key];
          if (value === undefined) continue;
          if (typeof value !== 'string') throw bad(`"${key}" is not a string`);
          record[key] = value;
        }
        const allow = entry['allowManageConnector'];
        if (allow !== undefined) {
          if (typeof allow !== 'boolean') throw bad('"allowManageConnector" is not a boolean');
          record.allowManageConnector = allow;
        }
        const strategy = entry['strategy'];
        if (strategy !== undefined) {
          if (!isProviderStrategy(strategy)) throw bad(strategyError(strategy));
          record.strategy = strategy;
        }
        return record;
      }
      default:
        throw bad('"kind" is not forward, reverse or connector');
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Replaces the file atomically and durably: write a temporary file next to it (mode 0600), fsync
 * it, rename it over the old one, fsync the directory so the rename itself is on disk. A reader
 * therefore sees either the old or the new content, never a mix. Synchronous on purpose: the
 * token methods are synchronous and must not return before the change is on disk.
 */
export function writeStateFile(filePath: string, state: TokenState): void {
  const dir = path.dirname(filePath);
  const temp = path.join(dir, `.${path.basename(filePath)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const text = `${JSON.stringify(state, null, 2)}\n`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'wx', 0o600);
    fs.writeFileSync(fd, text, 'utf8');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, filePath);
  } catch (cause) {
    if (fd !== undefined) closeQuietly(fd);
    try {
      fs.unlinkSync(temp);
    } catch {
      // the temporary file may not exist; nothing else to clean up
    }
    throw new StateFileError('ERR_LINKSOCKS_STATE_WRITE', filePath, `cannot be written: ${(cause as Error).message}`, cause);
  }
  syncDirectory(dir);
}

/** Makes the rename durable. Some platforms (Windows) cannot open a directory; the rename is then as durable as the OS makes it. */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch {
    // EINVAL/EISDIR on file systems without directory fsync: nothing more can be done
  } finally {
    closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already failed; the original error is the one worth reporting
  }
}
