/**
 * [linksocks-ts] The one place where token policy values are read and checked: API JSON
 * (`max_channels`, `rate_limit`, `quota_bytes`, `quota_period`, `expires_at`, `disabled`), the
 * library's TokenPolicyChange, and the state file's stored form. Every refusal is a TokenError
 * (ERR_LINKSOCKS_INVALID_POLICY) whose message starts with the API field name and whose `field`
 * names it; a change is checked whole before anything is applied.
 *
 * Units: sizes are bytes, as a JSON integer or a string with a unit — decimal `KB`/`MB`/`GB`/`TB`
 * (also `K`/`M`/`G`/`T`, powers of 1000) or binary `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), case
 * not significant, fractions allowed (`1.5GB`, rounded down to whole bytes). Durations are strings
 * of number+unit parts, `s`, `m`, `h`, `d` (24 h), `w` (7 d): `30d`, `12h`, `1d12h`, `90m`.
 */
import { isProviderStrategy, strategyError, type ProviderStrategy } from './provider-strategy.js';
import { TokenError } from './token-error.js';
import type { TokenPolicy } from './token-policy.js';

/**
 * A change to a token's policy. Absent: unchanged; `null`: cleared (no limit / not disabled /
 * round robin). Numbers are bytes, bytes per second, milliseconds, epoch milliseconds.
 */
export interface TokenPolicyChange {
  maxChannels?: number | null;
  rateLimit?: number | null;
  quotaBytes?: number | null;
  quotaPeriodMs?: number | null;
  /** Epoch ms or a Date; must lie in the future. */
  expiresAt?: number | Date | null;
  disabled?: boolean | null;
  /** Reverse tokens only (connector tokens use their reverse token's). */
  strategy?: ProviderStrategy | null;
}

/** The policy in API form (`GET /api/status`, PATCH answers); only the fields that are set. */
export interface TokenPolicyJson {
  max_channels?: number;
  rate_limit?: number;
  quota_bytes?: number;
  quota_period?: string;
  expires_at?: string;
  disabled?: boolean;
}

/** API names of the policy fields, in output order. */
export const POLICY_FIELDS = ['max_channels', 'rate_limit', 'quota_bytes', 'quota_period', 'expires_at', 'disabled'] as const;
export type PolicyField = (typeof POLICY_FIELDS)[number];

/** Largest accepted size or count: exact in a double. */
const MAX_VALUE = Number.MAX_SAFE_INTEGER;
/** Quota periods from 1 s to 10 years. */
const MIN_PERIOD_MS = 1000;
const MAX_PERIOD_MS = 10 * 365 * 86_400_000;
/** Expiry no further than 100 years ahead (beyond that it is a typo, not a plan). */
const MAX_EXPIRY_AHEAD_MS = 100 * 365 * 86_400_000;

function invalid(field: PolicyField | 'strategy', why: string): TokenError {
  return new TokenError('ERR_LINKSOCKS_INVALID_POLICY', `${field}: ${why}`, field);
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** `5MB`, `5MiB`, `1.5GB`, `512k`, `1000`: bytes (rounded down); undefined when not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

const PERIOD_UNITS_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `1d12h`, `1.5h`, `90m`: milliseconds; undefined when not a duration. */
export function parsePeriod(text: string): number | undefined {
  const rest = text.trim().toLowerCase();
  if (rest === '' || !/^(?:(?:\d+(?:\.\d+)?|\.\d+)[smhdw])+$/.test(rest)) return undefined;
  let total = 0;
  for (const part of rest.matchAll(/(\d+(?:\.\d+)?|\.\d+)([smhdw])/g)) total += Number(part[1]) * PERIOD_UNITS_MS[part[2]!]!;
  return Math.round(total);
}

/** Milliseconds as the shortest `1d12h`-style text (`30d`, `12h`, `1500ms` for odd values). */
export function formatPeriod(ms: number): string {
  if (ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms;
  let text = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) text += `${n}${unit}`;
    rest -= n * size;
  }
  return text === '' ? '0s' : text;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 3339 date-time (offset required) to epoch ms; undefined when it is not one. */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text.trim());
  if (!m) return undefined;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.parse(text.trim().replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : undefined;
}

/** A count or size given as a number: a positive safe integer. */
function positiveInteger(field: PolicyField, value: number): number {
  if (!Number.isFinite(value) || !Number.isInteger(value) || value < 1 || value > MAX_VALUE) {
    throw invalid(field, `must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
}

/** A size from JSON or a flag: an integer or a string with a unit (see the file comment). */
function sizeValue(field: PolicyField, value: unknown): number {
  if (typeof value === 'number') return positiveInteger(field, value);
  if (typeof value === 'string') {
    const bytes = parseSize(value);
    if (bytes === undefined) throw invalid(field, `not a size: ${JSON.stringify(value)} (bytes, or a number with KB, MB, GB, TB, KiB, MiB, GiB, TiB)`);
    return positiveInteger(field, bytes);
  }
  throw invalid(field, `must be a number of bytes or a size string like "5MB" (got ${typeof value})`);
}

/**
 * Reads the policy fields of an API body (`fields`: lower-cased key → value as sent, JSON null
 * kept). `create`: POST, where null means absent and `disabled` is refused; `patch`: null clears.
 * Unknown keys are the caller's business. Throws TokenError naming the first bad field.
 */
export function policyChangeFromJson(fields: ReadonlyMap<string, unknown>, mode: 'create' | 'patch'): TokenPolicyChange {
  const change: TokenPolicyChange = {};
  const get = (field: PolicyField): unknown => fields.get(field);
  const present = (field: PolicyField): boolean => fields.has(field) && (mode === 'patch' || fields.get(field) !== null);
  if (present('max_channels')) {
    const value = get('max_channels');
    if (value === null) change.maxChannels = null;
    else if (typeof value !== 'number') throw invalid('max_channels', `must be a positive integer (got ${typeof value})`);
    else change.maxChannels = positiveInteger('max_channels', value);
  }
  if (present('rate_limit')) {
    const value = get('rate_limit');
    change.rateLimit = value === null ? null : sizeValue('rate_limit', value);
  }
  if (present('quota_bytes')) {
    const value = get('quota_bytes');
    change.quotaBytes = value === null ? null : sizeValue('quota_bytes', value);
  }
  if (present('quota_period')) {
    const value = get('quota_period');
    if (value === null) change.quotaPeriodMs = null;
    else if (typeof value !== 'string') throw invalid('quota_period', `must be a duration string like "30d" or "12h" (got ${typeof value})`);
    else {
      const ms = parsePeriod(value);
      if (ms === undefined) throw invalid('quota_period', `not a duration: ${JSON.stringify(value)} (number and unit s, m, h, d, w, e.g. "30d")`);
      change.quotaPeriodMs = ms;
    }
  }
  if (present('expires_at')) {
    const value = get('expires_at');
    if (value === null) change.expiresAt = null;
    else if (typeof value !== 'string') throw invalid('expires_at', `must be an RFC 3339 time like "2027-01-01T00:00:00Z" (got ${typeof value})`);
    else {
      const ms = parseRfc3339(value);
      if (ms === undefined) throw invalid('expires_at', `not an RFC 3339 time: ${JSON.stringify(value)} (e.g. "2027-01-01T00:00:00Z")`);
      change.expiresAt = ms;
    }
  }
  if (fields.has('disabled')) {
    if (mode === 'create') {
      if (get('disabled') !== null) throw invalid('disabled', 'can only be changed on an existing token (PATCH /api/token/{token})');
    } else {
      const value = get('disabled');
      if (value !== null && typeof value !== 'boolean') throw invalid('disabled', `must be true or false (got ${typeof value})`);
      change.disabled = value as boolean | null;
    }
  }
  if (mode === 'patch' && fields.has('strategy')) {
    const value = fields.get('strategy');
    if (value !== null && !isProviderStrategy(value)) throw new TokenError('ERR_LINKSOCKS_INVALID_POLICY', strategyError(value), 'strategy');
    change.strategy = value as ProviderStrategy | null;
  }
  // Ranges, the future of expires_at and quota_period-needs-quota_bytes are checked against the
  // token's current policy by applyPolicyChange when the change is applied.
  return change;
}

/** True when the change sets or clears any policy field (strategy aside). */
export function changesPolicy(change: TokenPolicyChange): boolean {
  return (['maxChannels', 'rateLimit', 'quotaBytes', 'quotaPeriodMs', 'expiresAt', 'disabled'] as const).some((key) => change[key] !== undefined);
}

/**
 * The policy after `change`: each field checked (the library's numbers as strictly as the API's
 * strings), null clearing, absent keeping; undefined when nothing is left. Throws TokenError
 * naming the field; nothing is modified (records are immutable).
 */
export function applyPolicyChange(current: TokenPolicy | undefined, change: TokenPolicyChange, now = Date.now()): TokenPolicy | undefined {
  const next: { -readonly [K in keyof TokenPolicy]: TokenPolicy[K] } = { ...current };
  const set = <K extends keyof TokenPolicy>(key: K, value: TokenPolicy[K] | null | undefined): void => {
    if (value === undefined) return;
    if (value === null) delete next[key];
    else next[key] = value;
  };
  if (change.maxChannels !== undefined && change.maxChannels !== null) positiveInteger('max_channels', change.maxChannels);
  set('maxChannels', change.maxChannels);
  if (change.rateLimit !== undefined && change.rateLimit !== null) positiveInteger('rate_limit', change.rateLimit);
  set('rateLimit', change.rateLimit);
  if (change.quotaBytes !== undefined && change.quotaBytes !== null) positiveInteger('quota_bytes', change.quotaBytes);
  set('quotaBytes', change.quotaBytes);
  if (change.quotaPeriodMs !== undefined && change.quotaPeriodMs !== null) {
    const ms = change.quotaPeriodMs;
    if (!Number.isFinite(ms) || ms < MIN_PERIOD_MS || ms > MAX_PERIOD_MS) throw invalid('quota_period', 'must be between 1s and 10 years');
  }
  set('quotaPeriodMs', change.quotaPeriodMs === null || change.quotaPeriodMs === undefined ? change.quotaPeriodMs : Math.round(change.quotaPeriodMs));
  if (change.expiresAt !== undefined && change.expiresAt !== null) {
    const ms = change.expiresAt instanceof Date ? change.expiresAt.getTime() : change.expiresAt;
    if (!Number.isFinite(ms)) throw invalid('expires_at', 'not a valid time');
    if (ms <= now) throw invalid('expires_at', `${new Date(ms).toISOString()} is not in the future`);
    if (ms - now > MAX_EXPIRY_AHEAD_MS) throw invalid('expires_at', 'more than 100 years ahead');
    next.expiresAt = Math.round(ms);
  } else {
    set('expiresAt', change.expiresAt as null | undefined);
  }
  if (change.disabled !== undefined) {
    if (change.disabled !== null && typeof change.disabled !== 'boolean') throw invalid('disabled', 'must be true or false');
    if (change.disabled === true) next.disabled = true;
    else delete next.disabled;
  }
  if (next.quotaPeriodMs !== undefined && next.quotaBytes === undefined) throw invalid('quota_period', 'needs quota_bytes');
  return Object.keys(next).length === 0 ? undefined : Object.freeze(next);
}

/** The policy in API form, fields in POLICY_FIELDS order. */
export function policyToJson(policy: TokenPolicy): TokenPolicyJson {
  return {
    ...(policy.maxChannels !== undefined && { max_channels: policy.maxChannels }),
    ...(policy.rateLimit !== undefined && { rate_limit: policy.rateLimit }),
    ...(policy.quotaBytes !== undefined && { quota_bytes: policy.quotaBytes }),
    ...(policy.quotaPeriodMs !== undefined && { quota_period: formatPeriod(policy.quotaPeriodMs) }),
    ...(policy.expiresAt !== undefined && { expires_at: new Date(policy.expiresAt).toISOString() }),
    ...(policy.disabled === true && { disabled: true }),
  };
}

/**
 * A policy as stored in the state file (TokenPolicy's own field names and units). Returns an
 * error text for a malformed one; an expiry in the past is accepted here (the server removes
 * such tokens when it starts).
 */
export function checkStoredPolicy(value: unknown): TokenPolicy | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return '"policy" is not an object';
  const stored = value as Record<string, unknown>;
  const policy: { -readonly [K in keyof TokenPolicy]: TokenPolicy[K] } = {};
  for (const key of ['maxChannels', 'rateLimit', 'quotaBytes', 'quotaPeriodMs', 'expiresAt'] as const) {
    const v = stored[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return `"policy.${key}" is not a positive integer`;
    policy[key] = v;
  }
  if (stored['disabled'] !== undefined) {
    if (typeof stored['disabled'] !== 'boolean') return '"policy.disabled" is not a boolean';
    if (stored['disabled']) policy.disabled = true;
  }
  return Object.freeze(policy);
}
