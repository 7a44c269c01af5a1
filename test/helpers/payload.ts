// Deterministic test payloads and byte-exact transfer checks.
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';

/**
 * N pseudo-random bytes, identical for the same (length, seed). xorshift32 over 32-bit words:
 * fast enough for tens of MiB and never compressible by accident (gzip paths stay honest).
 */
export function makePayload(length: number, seed = 1): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  // A zero state would stay zero forever.
  let x = (seed * 0x9e3779b1) >>> 0 || 0x12345678;
  for (let i = 0; i < words.length; i += 1) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, length);
}

export function sha256(data: Buffer | Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface CollectOptions {
  /** Failure guard; default 20 s. */
  timeoutMs?: number;
  /** Chunk size for writes; default 64 KiB. */
  chunkSize?: number;
  /** Half-close (FIN) after the last write; default false. */
  endAfterWrite?: boolean;
}

/**
 * Reads exactly `length` bytes from `socket` (counting, not waiting for EOF: Go peers delay
 * closes by seconds). Rejects on error, early close or timeout.
 */
export function collectBytes(socket: Duplex, length: number, timeoutMs = 20_000): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, length));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      if (received > length) finish(new Error(`received ${received} bytes, expected only ${length}`));
      else if (received === length) finish();
    };
    const onError = (err: Error): void => finish(err);
    const onClose = (): void => finish(new Error(`socket closed after ${received} of ${length} bytes`));
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms with ${received} of ${length} bytes`)),
      timeoutMs,
    );
    if (length === 0) {
      finish();
      return;
    }
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

/** Writes `payload` honouring backpressure ('drain'). */
export async function writeAll(socket: Duplex, payload: Buffer, chunkSize = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < payload.length; offset += chunkSize) {
    const chunk = payload.subarray(offset, offset + chunkSize);
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          socket.off('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          socket.off('drain', onDrain);
          reject(new Error(`socket closed while writing (offset ${offset})`));
        };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      });
    }
  }
}

/**
 * Sends `payload` through an echoing path and collects exactly as many bytes back; throws if the
 * SHA-256 of what came back differs. Reading starts before writing so nothing is missed.
 */
export async function sendAndCollect(socket: Duplex, payload: Buffer, options: CollectOptions = {}): Promise<Buffer> {
  const received = collectBytes(socket, payload.length, options.timeoutMs ?? 20_000);
  // If the write fails the read fails too; surface the read error (more informative) first.
  const written = writeAll(socket, payload, options.chunkSize).then(() => {
    if (options.endAfterWrite) socket.end();
  });
  written.catch(() => undefined);
  const echoed = await received;
  await written;
  const expected = sha256(payload);
  const actual = sha256(echoed);
  if (expected !== actual) {
    throw new Error(`echoed data differs: sha256 ${actual} != ${expected} (${echoed.length} bytes)`);
  }
  return echoed;
}
