/**
 * JSON text as Go's json.Encoder writes it (API.md §4: compact, struct key order, trailing
 * newline). JSON.stringify keeps insertion order, so callers build objects in Go's key order;
 * this module adds the escapes Go writes and JSON.stringify does not.
 */

/** Go escapes these by default (HTML safety and JavaScript line separators). */
const GO_EXTRA_ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};
// These characters can only occur inside string literals of JSON text, so a global replace is safe.
const GO_EXTRA_ESCAPE_PATTERN = /[<>&\u2028\u2029]/g;

/** Go writes a lone surrogate (invalid UTF-8 to it) as U+FFFD; JSON.stringify escapes it. */
const LONE_SURROGATE_PATTERN = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Go-identical encoding of `value` followed by the newline json.Encoder appends. */
export function encodeLikeGo(value: unknown): string {
  const text = JSON.stringify(value, (_key, field: unknown) =>
    typeof field === 'string' ? field.replace(LONE_SURROGATE_PATTERN, '\ufffd') : field,
  );
  return `${text.replace(GO_EXTRA_ESCAPE_PATTERN, (char) => GO_EXTRA_ESCAPES[char]!)}\n`;
}
