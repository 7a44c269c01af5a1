/**
 * Flags every long-running command shares beyond Go: `--log-format` and `--metrics-listen`.
 * Same resolution as the Go flags (a given flag beats its LINKSOCKS_* variable; ../shared/spec/CLI.md §4).
 */
import { CliError } from './errors.js';
import { LOG_FORMATS, type LogFormat } from './logger.js';
import { type Env, parseEnum, parsePort, pickString } from './values.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface OperatorFlags {
  logFormat?: string;
  metricsListen?: string;
}

export interface OperatorConfig {
  logFormat: LogFormat;
  /** Separate listener serving only /metrics. */
  metricsListen?: HostPort;
}

export function parseOperatorFlags(flags: OperatorFlags, env: Env): OperatorConfig {
  const format = pickString(flags.logFormat, env, 'LINKSOCKS_LOG_FORMAT') ?? 'text';
  const config: OperatorConfig = { logFormat: parseEnum('log-format', format, LOG_FORMATS) };
  const listen = pickString(flags.metricsListen, env, 'LINKSOCKS_METRICS_LISTEN');
  if (listen !== undefined && listen !== '') config.metricsListen = parseHostPort(listen, '--metrics-listen');
  return config;
}

/**
 * `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces, as Go's net.Listen reads it).
 * Port 0 picks a free port (useful in tests; the bound address is logged).
 */
export function parseHostPort(value: string, flag: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(value.trim());
  if (!match) {
    throw new CliError('ERR_CLI_INVALID_FLAG', `invalid argument ${JSON.stringify(value)} for "${flag}" flag: expected HOST:PORT`);
  }
  const host = match[1] ?? match[2] ?? '';
  const port = parsePort(match[3] as string, { kind: 'flag', flag });
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** `host:port` with IPv6 hosts bracketed. */
export function joinHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
