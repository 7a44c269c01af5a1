/**
 * Channel ids travel as 16 raw bytes and live in typed messages as canonical lower-case strings
 * (PROTOCOL.md §1). Both directions run for every Data message, so they use lookup tables instead of
 * regular expressions or intermediate hex strings.
 */
import { ProtocolError } from './errors.js';

export const UUID_BYTE_LENGTH = 16;
const UUID_TEXT_LENGTH = 36;

/** Two lower-case hex digits for every byte value. */
const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, value) =>
  value.toString(16).padStart(2, '0'),
);

/** Nibble value of an ASCII char code, or -1; upper-case digits are accepted on input. */
const NIBBLE_OF_CHAR = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit++) {
  NIBBLE_OF_CHAR[digit.toString(16).charCodeAt(0)] = digit;
  NIBBLE_OF_CHAR[digit.toString(16).toUpperCase().charCodeAt(0)] = digit;
}

/** Where each of the 16 hex pairs starts in xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx. */
const PAIR_OFFSETS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34] as const;
const HYPHEN_OFFSETS = [8, 13, 18, 23] as const;
const HYPHEN = 0x2d;

function nibbleAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code < 128 ? NIBBLE_OF_CHAR[code]! : -1;
}

function badUuid(uuid: unknown): ProtocolError {
  return new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', `not a canonical UUID: ${String(uuid)}`);
}

/**
 * Writes the 16 bytes of `uuid` (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, any case) into `target` at
 * `offset`. No version/variant check: the nil UUID and any other 16 bytes are legal on the wire.
 */
export function writeUuid(target: Uint8Array, offset: number, uuid: string): void {
  if (typeof uuid !== 'string' || uuid.length !== UUID_TEXT_LENGTH) throw badUuid(uuid);
  for (const at of HYPHEN_OFFSETS) {
    if (uuid.charCodeAt(at) !== HYPHEN) throw badUuid(uuid);
  }
  for (let pair = 0; pair < UUID_BYTE_LENGTH; pair++) {
    const at = PAIR_OFFSETS[pair]!;
    const high = nibbleAt(uuid, at);
    const low = nibbleAt(uuid, at + 1);
    if (high < 0 || low < 0) throw badUuid(uuid);
    target[offset + pair] = (high << 4) | low;
  }
}

/** The 16 raw bytes of a canonical UUID string (a fresh Buffer). */
export function uuidToBytes(uuid: string): Buffer {
  const bytes = Buffer.alloc(UUID_BYTE_LENGTH);
  writeUuid(bytes, 0, uuid);
  return bytes;
}

/** Canonical lower-case text of the 16 bytes at `offset`; the caller guarantees they exist. */
export function bytesToUuid(bytes: Uint8Array, offset = 0): string {
  if (offset < 0 || offset + UUID_BYTE_LENGTH > bytes.length) {
    throw new ProtocolError('ERR_LINKSOCKS_TRUNCATED', 'fewer than 16 bytes for a UUID');
  }
  const b = bytes;
  const o = offset;
  return (
    HEX_PAIRS[b[o]!]! + HEX_PAIRS[b[o + 1]!]! + HEX_PAIRS[b[o + 2]!]! + HEX_PAIRS[b[o + 3]!]! + '-' +
    HEX_PAIRS[b[o + 4]!]! + HEX_PAIRS[b[o + 5]!]! + '-' +
    HEX_PAIRS[b[o + 6]!]! + HEX_PAIRS[b[o + 7]!]! + '-' +
    HEX_PAIRS[b[o + 8]!]! + HEX_PAIRS[b[o + 9]!]! + '-' +
    HEX_PAIRS[b[o + 10]!]! + HEX_PAIRS[b[o + 11]!]! + HEX_PAIRS[b[o + 12]!]! +
    HEX_PAIRS[b[o + 13]!]! + HEX_PAIRS[b[o + 14]!]! + HEX_PAIRS[b[o + 15]!]!
  );
}
