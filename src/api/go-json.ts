/**
 * API bodies as Go's json.Encoder writes them (API.md §4: compact, struct key order, trailing
 * newline). Callers build objects in Go's key order; the escaping is the codec's (one set of rules).
 */
import { stringifyLikeGo } from '../protocol/go-json.js';

export function encodeLikeGo(value: unknown): string {
  return `${stringifyLikeGo(value)}\n`;
}
