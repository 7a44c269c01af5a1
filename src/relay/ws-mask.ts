/**
 * Masking keys and masking for the WebSocket frames a client writes itself (data-frame.ts).
 *
 * RFC 6455 §5.3 requires a fresh, unpredictable key for every client frame. Masking is what keeps
 * bytes chosen by an application (here: whatever a SOCKS user uploads) from reaching the wire as
 * they are, where a transparent proxy between client and server could read them as requests of
 * its own. Keys are drawn from a pool of crypto-random bytes refilled in bulk (one
 * randomFillSync per 2048 frames, not a system call per frame).
 */
import { randomFillSync } from 'node:crypto';

const MASK_KEY_LENGTH = 4;
const POOL_SIZE = 2048 * MASK_KEY_LENGTH;
const pool = Buffer.alloc(POOL_SIZE);
let poolNext = POOL_SIZE;

/** Writes a fresh random 4-byte masking key at `offset` of `target`. */
export function writeMaskKey(target: Buffer, offset: number): void {
  if (poolNext === POOL_SIZE) {
    randomFillSync(pool);
    poolNext = 0;
  }
  target[offset] = pool[poolNext]!;
  target[offset + 1] = pool[poolNext + 1]!;
  target[offset + 2] = pool[poolNext + 2]!;
  target[offset + 3] = pool[poolNext + 3]!;
  poolNext += MASK_KEY_LENGTH;
}

// bufferutil (an optional dependency, also used by `ws`) XORs a word at a time in native code and
// falls back to plain loops itself when its native build is missing. It is imported without
// blocking and without being required: where the package is absent (or not in the bundle, as in
// the single executable) the loops below do the masking, as they do until the import settles,
// normally long before the first frame.
let bufferUtil: typeof import('bufferutil').default | undefined;
import('bufferutil').then(
  (loaded) => {
    bufferUtil = loaded.default;
  },
  () => undefined,
);

/** Below this size a JS loop beats the call into native code. */
const NATIVE_MIN_LENGTH = 48;

/** XORs `data` in place with `key` (4 bytes), key byte 0 on data byte 0. */
export function maskInPlace(data: Buffer, key: Buffer): void {
  if (bufferUtil !== undefined && data.length >= NATIVE_MIN_LENGTH) {
    bufferUtil.unmask(data, key);
    return;
  }
  for (let i = 0; i < data.length; i += 1) data[i]! ^= key[i & 3]!;
}

/** Writes `source` XOR `key` into `output` from `offset`; `source` is left as it is. */
export function maskInto(source: Buffer, key: Buffer, output: Buffer, offset: number): void {
  if (bufferUtil !== undefined && source.length >= NATIVE_MIN_LENGTH) {
    bufferUtil.mask(source, key, output, offset, source.length);
    return;
  }
  for (let i = 0; i < source.length; i += 1) output[offset + i] = source[i]! ^ key[i & 3]!;
}
