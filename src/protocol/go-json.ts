/**
 * JSON bodies of Log and Partners, written the way Go's json.Marshal writes them and read the way
 * json.Unmarshal reads them into a struct (PROTOCOL.md §3.9, §3.10, §7).
 */
import { ProtocolError } from './errors.js';

/** Characters json.Marshal escapes where JSON.stringify does not (HTML safety, JS line separators). */
const GO_EXTRA_ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};
const GO_EXTRA_ESCAPE_PATTERN = /[<>&\u2028\u2029]/g;

/**
 * JSON.stringify writes \b and \f; Go before 1.22 (the v1.7.15 reference binary is built with Go
 * 1.19) writes \u0008 and \u000c. The pattern only meets them inside string literals, where an
 * escaped backslash is always doubled, so counting backslashes before the letter is enough.
 */
const SHORT_CONTROL_ESCAPE_PATTERN = /(?<!\\)((?:\\\\)*)\\([bf])/g;

/** A lone UTF-16 surrogate: Go can only see it as invalid UTF-8, which it writes as U+FFFD. */
const LONE_SURROGATE_PATTERN = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function goString(value: string): string {
  return value.replace(LONE_SURROGATE_PATTERN, '\ufffd');
}

/**
 * Go-identical JSON text of `value` (json.Marshal of a struct whose fields are in the objects' key
 * order): JSON.stringify plus the escapes Go writes and JavaScript does not.
 */
export function stringifyLikeGo(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) => (typeof field === 'string' ? goString(field) : field))
    .replace(GO_EXTRA_ESCAPE_PATTERN, (char) => GO_EXTRA_ESCAPES[char]!)
    .replace(SHORT_CONTROL_ESCAPE_PATTERN, (_match, backslashes: string, letter: string) =>
      `${backslashes}\\u000${letter === 'b' ? '8' : 'c'}`,
    );
}

/** Go-identical JSON text of a flat object whose keys are given in struct order. */
export function marshalLikeGo(fields: Readonly<Record<string, string | number>>): string {
  return stringifyLikeGo(fields);
}

/**
 * Parses a JSON body into the raw values of `keys`, following json.Unmarshal into a struct: the
 * top level must be an object (or null, which leaves every field at its zero value), unknown keys
 * are ignored, and a key matches its field case-insensitively, the last occurrence winning.
 */
export function unmarshalObjectLikeGo(
  text: string,
  keys: readonly string[],
  what: string,
): Map<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError('ERR_LINKSOCKS_JSON', `invalid ${what} JSON: ${(cause as Error).message}`, undefined, { cause });
  }
  const found = new Map<string, unknown>();
  if (parsed === null) return found;
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ProtocolError('ERR_LINKSOCKS_JSON', `${what} JSON is not an object`);
  }
  for (const [key, value] of Object.entries(parsed)) {
    const lowered = key.toLowerCase();
    const field = keys.find((candidate) => candidate === lowered);
    // JSON null leaves a Go field untouched, i.e. at its zero value.
    if (field !== undefined && value !== null) found.set(field, value);
  }
  return found;
}

/** A Go `string` field: absent → "", anything but a JSON string is an unmarshal error. */
export function stringField(values: Map<string, unknown>, key: string, what: string): string {
  const value = values.get(key);
  if (value === undefined) return '';
  if (typeof value !== 'string') {
    throw new ProtocolError('ERR_LINKSOCKS_JSON', `${what}.${key} is not a string`);
  }
  return value;
}

/** A Go `int` field: absent → 0; fractions, strings and out-of-range numbers are errors. */
export function integerField(values: Map<string, unknown>, key: string, what: string): number {
  const value = values.get(key);
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new ProtocolError('ERR_LINKSOCKS_JSON', `${what}.${key} is not an integer`);
  }
  return value;
}
