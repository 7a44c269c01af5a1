/**
 * gzip for Data payloads (PROTOCOL.md §3.5). Decompression is capped because the peer controls the
 * input: a few hundred KiB of gzip can expand to gigabytes.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { ProtocolError } from './errors.js';
import { COMPRESSION_THRESHOLD } from './types.js';

/**
 * Default cap on a decompressed Data payload: the Go reader's own WebSocket message limit
 * (PROTOCOL.md §6). Go senders stay under 2 MiB with default settings.
 */
export const DEFAULT_MAX_DECOMPRESSED_SIZE = 32 * 1024 * 1024;

/** Go's sender rule (relay.go determineCompression): gzip iff the payload is at least 512 KiB. */
export function shouldCompress(payloadLength: number): boolean {
  return payloadLength >= COMPRESSION_THRESHOLD;
}

/** A complete RFC 1952 stream, which is all Go's gzip reader needs. */
export function gzipPayload(payload: Uint8Array): Buffer {
  return gzipSync(payload);
}

/**
 * Gunzips a Data payload, refusing to produce more than `maxSize` bytes. zlib stops at the cap
 * itself (maxOutputLength), so a bomb never gets allocated in full.
 */
export function gunzipPayload(compressed: Uint8Array, maxSize: number, channelId?: string): Buffer {
  let output: Buffer;
  try {
    // maxOutputLength must be at least 1; a cap of 0 is enforced by the length check below.
    output = gunzipSync(compressed, { maxOutputLength: Math.max(1, maxSize) });
  } catch (cause) {
    if (isBufferTooLarge(cause)) {
      throw new ProtocolError(
        'ERR_LINKSOCKS_TOO_LARGE',
        `gzip payload expands beyond ${maxSize} bytes`,
        channelId,
      );
    }
    throw new ProtocolError('ERR_LINKSOCKS_GZIP', `corrupt gzip payload: ${describe(cause)}`, channelId);
  }
  if (output.length > maxSize) {
    throw new ProtocolError('ERR_LINKSOCKS_TOO_LARGE', `gzip payload expands beyond ${maxSize} bytes`, channelId);
  }
  return output;
}

function isBufferTooLarge(cause: unknown): boolean {
  return cause instanceof RangeError && (cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
