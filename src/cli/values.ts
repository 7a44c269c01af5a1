/**
 * Value parsing shared by the server and client commands. Messages follow the Go CLI
 * (pflag for flags, `invalid <VAR>: "<value>"` for environment variables; ../shared/spec/CLI.md §4)
 * so that users of both see the same wording.
 */
import { CliError } from './errors.js';

/** Environment as seen by the parse functions (a plain record, so tests can pass their own). */
export type Env = Readonly<Record<string, string | undefined>>;

/** The value of a variable trimmed; undefined when unset or blank (blank counts as unset, as in Go). */
export function envValue(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** Where a value came from, so errors can name the flag or the variable. */
export type Source = { kind: 'flag'; flag: string } | { kind: 'env'; name: string };

function invalid(source: Source, value: string, why: string): CliError {
  if (source.kind === 'env') {
    return new CliError('ERR_CLI_INVALID_ENV', `invalid ${source.name}: ${JSON.stringify(value)}${why ? ` (${why})` : ''}`);
  }
  return new CliError('ERR_CLI_INVALID_FLAG', `invalid argument ${JSON.stringify(value)} for "${source.flag}" flag: ${why}`);
}

/** Decimal integer, as strconv.Atoi accepts it (optional sign, digits only). */
export function parseInteger(value: string, source: Source): number {
  if (!/^[+-]?\d+$/.test(value)) throw invalid(source, value, 'not an integer');
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalid(source, value, 'value out of range');
  return n;
}

export function parsePort(value: string, source: Source): number {
  const n = parseInteger(value, source);
  if (n < 0 || n > 65535) throw invalid(source, value, 'port must be between 0 and 65535');
  return n;
}

export function parsePositiveInteger(value: string, source: Source): number {
  const n = parseInteger(value, source);
  if (n < 1) throw invalid(source, value, 'must be at least 1');
  return n;
}

const TRUE_WORDS = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE_WORDS = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Booleans as strconv.ParseBool spells them. */
export function parseGoBool(value: string, source: Source): boolean {
  if (TRUE_WORDS.has(value)) return true;
  if (FALSE_WORDS.has(value)) return false;
  throw invalid(source, value, 'not a boolean');
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go time.ParseDuration syntax (`500ms`, `1m30s`, `1.5h`, `0`), result in milliseconds. */
export function parseGoDuration(value: string, source: Source): number {
  let rest = value;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid(source, value, 'invalid duration');
  let total = 0;
  const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m) throw invalid(source, value, 'invalid duration');
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/** `--transport-grace`: plain seconds (`30`, `2.5`) or a Go duration (`1m`, `500ms`), >= 0; milliseconds. */
export function parseGraceSeconds(value: string, source: Source): number {
  const v = value.trim();
  const ms = /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : parseGoDuration(v, source);
  if (!Number.isFinite(ms) || ms < 0) throw invalid(source, value, 'must be 0 or more');
  return Math.round(ms);
}

/** Lower-cased, trimmed enum value checked against the allowed set (Go `Parse*` helpers). */
export function parseEnum<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  const v = value.trim().toLowerCase();
  if ((allowed as readonly string[]).includes(v)) return v as T;
  throw new CliError('ERR_CLI_INVALID_FLAG', `invalid ${name}: ${JSON.stringify(value)} (supported: ${allowed.join('|')})`);
}

/**
 * Flag-or-environment resolution (Go `resolve*FlagEnv`): a flag given on the command line wins,
 * even when empty; otherwise a non-blank variable; otherwise undefined (the caller's default).
 * Commander leaves options without a default undefined, which is how "given" is detected.
 */
export function pickString(flag: string | undefined, env: Env, name: string): string | undefined {
  if (flag !== undefined) return flag;
  return envValue(env, name);
}

export function pickInteger(
  flag: string | undefined,
  flagName: string,
  env: Env,
  name: string,
  parse: (value: string, source: Source) => number,
): number | undefined {
  if (flag !== undefined) return parse(flag, { kind: 'flag', flag: flagName });
  const fromEnv = envValue(env, name);
  return fromEnv === undefined ? undefined : parse(fromEnv, { kind: 'env', name });
}

/** Boolean flags are true when given (commander yields true/undefined). */
export function pickBool(flag: boolean | undefined, env: Env, name: string): boolean {
  if (flag !== undefined) return flag;
  const fromEnv = envValue(env, name);
  return fromEnv === undefined ? false : parseGoBool(fromEnv, { kind: 'env', name });
}

/** Integer flag without an environment variable. */
export function flagInteger(
  flag: string | undefined,
  flagName: string,
  parse: (value: string, source: Source) => number,
): number | undefined {
  return flag === undefined ? undefined : parse(flag, { kind: 'flag', flag: flagName });
}
