/**
 * Strings behind a 1-byte length prefix (PROTOCOL.md §1, §6). Go writes byte(len(s)) without a
 * check, so anything over 255 bytes would corrupt the frame for the peer: identifiers are refused,
 * free-form error texts are shortened.
 */
import { ProtocolError } from './errors.js';

export const MAX_SHORT_STRING_BYTES = 255;

/** UTF-8 length of an identifier (token, address, connector token); throws when it cannot fit. */
export function shortStringLength(value: string, fieldName: string): number {
  if (typeof value !== 'string') {
    throw new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', `${fieldName} must be a string`);
  }
  const length = Buffer.byteLength(value, 'utf8');
  if (length > MAX_SHORT_STRING_BYTES) {
    throw new ProtocolError(
      'ERR_LINKSOCKS_STRING_TOO_LONG',
      `${fieldName} is ${length} bytes in UTF-8; the wire allows ${MAX_SHORT_STRING_BYTES}`,
    );
  }
  return length;
}

/**
 * UTF-8 bytes of an informational error text, cut to at most 255 bytes without splitting a
 * character, since nobody parses these texts and a shortened one beats a refused message.
 */
export function errorTextBytes(text: string): Buffer {
  const bytes = Buffer.from(typeof text === 'string' ? text : String(text), 'utf8');
  if (bytes.length <= MAX_SHORT_STRING_BYTES) return bytes;
  let end = MAX_SHORT_STRING_BYTES;
  // Back up over continuation bytes (10xxxxxx) so the cut lands before a lead byte.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** Writes the length byte and `byteLength` bytes of `value`; returns the offset after them. */
export function writeShortString(
  target: Buffer,
  offset: number,
  value: string,
  byteLength: number,
): number {
  target[offset] = byteLength;
  if (byteLength > 0) target.write(value, offset + 1, byteLength, 'utf8');
  return offset + 1 + byteLength;
}

/** Same as writeShortString for text already turned into bytes. */
export function writeShortBytes(target: Buffer, offset: number, bytes: Uint8Array): number {
  target[offset] = bytes.length;
  target.set(bytes, offset + 1);
  return offset + 1 + bytes.length;
}
