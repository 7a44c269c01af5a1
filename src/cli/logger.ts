/**
 * The CLI's pino logger on stdout, as Go logs. Two formats (`--log-format`):
 * - `text` (default): single lines in the shape of Go's zerolog console writer
 *   (../shared/spec/CLI.md §6): `<RFC 3339 time> <LVL> <message> [key=value …]`;
 * - `json`: pino's own JSON lines, for log collectors.
 * Only the CLI formats; the library just receives the logger.
 */
import { pino, type Logger } from 'pino';

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Field names that can carry secrets. Whoever logs them (CLI or library), the value is printed as
 * `***`: keys and passwords are never needed in logs, and tokens only in the Go start-up lines
 * (`Token:` / `Connector Token:`), which are messages, not fields.
 */
export const SECRET_FIELDS = [
  'apiKey',
  'api_key',
  'apiKeys',
  'api_keys',
  'password',
  'socksPassword',
  'socks_password',
  'token',
  'connectorToken',
  'connector_token',
  'reverseToken',
  'reverse_token',
  'secret',
  'clusterSecret',
  'cluster_secret',
] as const;

export const MASK = '***';

export interface CliLoggerOptions {
  /** `-d` count: 0 info, 1 debug, 2+ trace. */
  debug: number;
  /** Line format; default `text`. */
  format?: LogFormat;
  /** Receives one finished line (with its newline); defaults to stdout. */
  write?: (line: string) => void;
  /** ANSI colours; default: stdout is a terminal and NO_COLOR is unset. */
  color?: boolean;
}

const LEVEL_LABELS: Readonly<Record<number, string>> = {
  10: 'TRC',
  20: 'DBG',
  30: 'INF',
  40: 'WRN',
  50: 'ERR',
  60: 'FTL',
};

const ANSI = {
  reset: '\x1b[0m',
  gray: '\x1b[90m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  magenta: '\x1b[35m',
  cyan: '\x1b[36m',
  bold: '\x1b[1m',
} as const;

const LEVEL_COLORS: Readonly<Record<string, string>> = {
  TRC: ANSI.magenta,
  DBG: ANSI.yellow,
  INF: ANSI.green,
  WRN: ANSI.red,
  ERR: ANSI.red + ANSI.bold,
  FTL: ANSI.red,
};

export function levelForDebug(debug: number): 'info' | 'debug' | 'trace' {
  if (debug <= 0) return 'info';
  return debug === 1 ? 'debug' : 'trace';
}

export function defaultColor(env: NodeJS.ProcessEnv = process.env): boolean {
  return process.stdout.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

export function createCliLogger(options: CliLoggerOptions): Logger {
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const color = options.color ?? defaultColor();
  const json = options.format === 'json';
  return pino(
    {
      level: levelForDebug(options.debug),
      // No pid/hostname: Go prints neither, and log collectors add their own.
      base: undefined,
      redact: { paths: [...SECRET_FIELDS], censor: MASK },
    },
    { write: json ? (line: string) => write(line.endsWith('\n') ? line : `${line}\n`) : (line: string) => write(formatLine(line, color)) },
  );
}

/** Turns one pino JSON record into a console line. Exported for tests. */
export function formatLine(json: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const { level, time, msg, ...fields } = record;
  const label = LEVEL_LABELS[typeof level === 'number' ? level : 30] ?? '???';
  const stamp = formatRfc3339(new Date(typeof time === 'number' ? time : Date.now()));
  const paint = (code: string, text: string): string => (color ? `${code}${text}${ANSI.reset}` : text);

  const parts = [paint(ANSI.gray, stamp), paint(LEVEL_COLORS[label] ?? '', label)];
  if (typeof msg === 'string' && msg !== '') parts.push(msg);
  // zerolog's console writer prints fields sorted by name.
  for (const key of Object.keys(fields).sort()) {
    const { name, value } = renderField(key, fields[key]);
    parts.push(`${paint(ANSI.cyan, `${name}=`)}${value}`);
  }
  return `${parts.join(' ')}\n`;
}

function renderField(key: string, value: unknown): { name: string; value: string } {
  // pino serialises errors under `err`; zerolog's Err() uses the key `error` and prints the message.
  if (key === 'err' && value !== null && typeof value === 'object' && 'message' in value) {
    return { name: 'error', value: quoteIfNeeded(String((value as { message: unknown }).message)) };
  }
  if (typeof value === 'string') return { name: key, value: quoteIfNeeded(value) };
  return { name: key, value: JSON.stringify(value) ?? String(value) };
}

function quoteIfNeeded(text: string): string {
  return text === '' || /[\s"\\=\x00-\x1f]/.test(text) ? JSON.stringify(text) : text;
}

/** Local time as Go's time.RFC3339: 2006-01-02T15:04:05Z07:00. */
export function formatRfc3339(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const offsetMin = -date.getTimezoneOffset();
  const zone =
    offsetMin === 0
      ? 'Z'
      : `${offsetMin > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offsetMin) / 60))}:${pad(Math.abs(offsetMin) % 60)}`;
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${zone}`
  );
}

/** Go's log.Fatal prefix (`YYYY/MM/DD HH:MM:SS`), used for errors printed on stderr. */
export function formatGoLogLine(message: string, date: Date = new Date()): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}/${pad(date.getMonth() + 1)}/${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${message}\n`
  );
}
