/**
 * Type and range checks for the option objects of LinkSocksServer and LinkSocksClient. Each check
 * takes the option's name and the caller's value, returns the value (or the default when it is
 * undefined) and throws InvalidArgumentError naming the option otherwise: options come from
 * JavaScript callers and configuration files too, so the TypeScript types alone prove nothing.
 */
import { InvalidArgumentError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** An integer in [min, max]. */
export function integer(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `between ${min} and ${max}`;
    throw new InvalidArgumentError(name, `must be an integer ${range}, got ${describe(value)}`);
  }
  return value;
}

/** A TCP/UDP port; 0 asks the system for a free one. */
export function port(name: string, value: unknown, fallback: number): number {
  return integer(name, value, fallback, 0, 65535);
}

/** A duration in milliseconds: finite and not negative (NaN and Infinity are refused). */
export function milliseconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(name, `must be a finite number of milliseconds ≥ 0, got ${describe(value)}`);
  }
  return value;
}

/** A number > 0 (rates). */
export function positiveNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(name, `must be a finite number > 0, got ${describe(value)}`);
  }
  return value;
}

export function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(name, `must be a boolean, got ${describe(value)}`);
  return value;
}

export function string(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new InvalidArgumentError(name, `must be a string, got ${describe(value)}`);
  return value;
}

export function optionalString(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidArgumentError(name, `must be a string, got ${describe(value)}`);
  return value;
}

/** A string that must not be empty (host names). */
export function host(name: string, value: unknown, fallback: string): string {
  const s = string(name, value, fallback);
  if (s === '') throw new InvalidArgumentError(name, 'must not be empty');
  return s;
}

/** PEM text or bytes. */
export function optionalPem(name: string, value: unknown): string | Buffer | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
    throw new InvalidArgumentError(name, `must be a string or a Buffer, got ${describe(value)}`);
  }
  return value;
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(name: string, value: unknown, fallback: T, allowed: readonly T[]): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(name, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

/** A plain object (or undefined); returns it typed as a record for field checks. */
export function optionalObject(name: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(name, `must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** The options argument itself. */
export function optionsObject(value: unknown): Record<string, unknown> {
  return optionalObject('options', value) ?? {};
}

/** A pino-style logger (the library calls its level methods); default a silent one. */
export function logger(name: string, value: unknown): Logger {
  if (value === undefined) return silentLogger();
  const candidate = optionalObject(name, value);
  for (const method of ['fatal', 'error', 'warn', 'info', 'debug'] as const) {
    if (typeof candidate?.[method] !== 'function') throw new InvalidArgumentError(name, `must have a ${method}() method`);
  }
  return value as Logger;
}
