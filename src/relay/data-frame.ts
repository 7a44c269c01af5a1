/**
 * The hot path of the relay: a TCP Data message written straight to the socket as one WebSocket
 * frame. Unmasked (server side), header and payload go in two writes under cork, so the payload is
 * never copied; masked (client side), the payload is XOR-ed into the frame buffer in the same pass
 * that has to touch every byte anyway, never in place: the caller's buffer may be shared (constant
 * chunks, buffers kept for a retry). Only used when nothing is queued inside `ws`, so frames keep
 * their order.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { DATA_HEADER_LENGTH, writeTcpDataHeader } from '../protocol/index.js';
import { maskInPlace, maskInto, writeMaskKey } from './ws-mask.js';

/**
 * How a link's frames are written: a server's unmasked, a client's masked with a fresh random key
 * per frame (RFC 6455 §5.3).
 */
export type DirectFraming = 'unmasked' | 'masked';

// The payload is masked separately from the Data header that precedes it, with the same key from
// byte 0: right only while the header is a whole number of 4-byte key cycles.
if (DATA_HEADER_LENGTH % 4 !== 0) throw new Error('DATA_HEADER_LENGTH must be a multiple of the 4-byte mask key');

/**
 * The fields of ws's Sender that tell whether it holds queued frames. Read, never written; if a
 * future `ws` renames them the check fails closed and the generic path is used.
 */
interface SenderState {
  _state?: unknown;
  _queue?: unknown;
}

const OPCODE_BINARY_FIN = 0x82;

export function canWriteDirect(ws: WebSocket): boolean {
  const sender = (ws as unknown as { _sender?: SenderState })._sender;
  return (
    ws.readyState === 1 &&
    sender !== undefined &&
    sender._state === 0 &&
    Array.isArray(sender._queue) &&
    sender._queue.length === 0
  );
}

/** Writes the frame; returns socket.write's answer for it. `payload` is never modified. */
export function writeTcpDataFrame(socket: Socket, framing: DirectFraming, channelId: string, payload: Buffer): boolean {
  const length = DATA_HEADER_LENGTH + payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const maskBytes = framing === 'masked' ? 4 : 0;
  const wsHeader = 2 + extended + maskBytes;
  const headLength = wsHeader + DATA_HEADER_LENGTH;
  // Masked: one buffer for the whole frame, the payload masked into it below.
  const head = Buffer.allocUnsafe(maskBytes > 0 ? headLength + payload.length : headLength);
  head[0] = OPCODE_BINARY_FIN;
  const maskBit = maskBytes > 0 ? 0x80 : 0;
  if (extended === 0) {
    head[1] = maskBit | length;
  } else if (extended === 2) {
    head[1] = maskBit | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head[1] = maskBit | 127;
    head.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    head.writeUInt32BE(length >>> 0, 6);
  }
  writeTcpDataHeader(head, wsHeader, channelId, payload.length);
  if (maskBytes > 0) {
    writeMaskKey(head, 2 + extended);
    const key = head.subarray(2 + extended, wsHeader);
    maskInPlace(head.subarray(wsHeader, headLength), key);
    maskInto(payload, key, head, headLength);
    return socket.write(head);
  }
  socket.cork();
  socket.write(head);
  const ok = socket.write(payload);
  socket.uncork();
  return ok;
}
