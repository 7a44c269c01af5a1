/**
 * Pure, incremental parsers for the client→server half of the SOCKS5 handshake (RFC 1928 greeting
 * and request, RFC 1929 username/password). No sockets here: each parser looks at the bytes
 * received so far and says "need more", "here is the message and its length", or "invalid".
 * Invalid input is reported as early as the offending byte arrives, so a client sending garbage
 * is answered without waiting for bytes that will never come.
 */
import { readAddress, type SocksAddress } from './address.js';
import { Socks5Error } from './errors.js';
import { SOCKS_VERSION, USERPASS_VERSION } from './wire.js';

export type ParseStep<T> =
  | { status: 'incomplete' }
  | { status: 'complete'; value: T; /** Bytes the message occupied. */ length: number }
  | { status: 'invalid'; error: Socks5Error };

export interface Greeting {
  /** The offered authentication methods, in client order. */
  methods: number[];
}

/** RFC 1929 credentials as raw bytes (compared byte-wise, never decoded). */
export interface UserPassAuth {
  username: Buffer;
  password: Buffer;
}

export interface CommandRequest extends SocksAddress {
  /** CMD byte; not validated here (the address is parsed first, as Go does). */
  command: number;
}

const INCOMPLETE = { status: 'incomplete' } as const;

function invalid(error: Socks5Error): { status: 'invalid'; error: Socks5Error } {
  return { status: 'invalid', error };
}

/** `VER NMETHODS METHODS…` */
export function parseGreeting(buf: Buffer): ParseStep<Greeting> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) {
    return invalid(new Socks5Error('ERR_SOCKS5_VERSION', `invalid socks version: ${buf[0]}`));
  }
  if (buf.length < 2) return INCOMPLETE;
  const count = buf[1]!;
  if (count === 0) return invalid(new Socks5Error('ERR_SOCKS5_NO_METHODS', 'no auth methods provided'));
  const length = 2 + count;
  if (buf.length < length) return INCOMPLETE;
  return { status: 'complete', value: { methods: [...buf.subarray(2, length)] }, length };
}

/** `VER(=1) ULEN UNAME PLEN PASSWD` */
export function parseUserPassAuth(buf: Buffer): ParseStep<UserPassAuth> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== USERPASS_VERSION) {
    return invalid(new Socks5Error('ERR_SOCKS5_AUTH_VERSION', `invalid auth version: ${buf[0]}`));
  }
  if (buf.length < 2) return INCOMPLETE;
  const userEnd = 2 + buf[1]!;
  if (buf.length < userEnd + 1) return INCOMPLETE;
  const length = userEnd + 1 + buf[userEnd]!;
  if (buf.length < length) return INCOMPLETE;
  return {
    status: 'complete',
    value: { username: buf.subarray(2, userEnd), password: buf.subarray(userEnd + 1, length) },
    length,
  };
}

/** `VER CMD RSV ATYP DST.ADDR DST.PORT` (RSV is not checked, like Go). */
export function parseCommandRequest(buf: Buffer): ParseStep<CommandRequest> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) {
    return invalid(new Socks5Error('ERR_SOCKS5_VERSION', `invalid socks version in request: ${buf[0]}`));
  }
  if (buf.length < 4) return INCOMPLETE;
  const read = readAddress(buf, 3);
  if (read.status !== 'complete') return read;
  return { status: 'complete', value: { command: buf[1]!, ...read.address }, length: read.end };
}

/**
 * Collects chunks until a parser can take a whole message off the front. Buffers stay small: a
 * handshake message is at most 513 bytes, and the owner stops reading once the request is parsed.
 */
export class ByteAccumulator {
  private buffered: Buffer = Buffer.alloc(0);

  get length(): number {
    return this.buffered.length;
  }

  /** The first buffered byte, if any. */
  peekByte(): number | undefined {
    return this.buffered[0];
  }

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
  }

  /** Runs `parse` on the buffered bytes; a complete message is removed from the buffer. */
  read<T>(parse: (buf: Buffer) => ParseStep<T>): ParseStep<T> {
    const step = parse(this.buffered);
    if (step.status === 'complete') this.buffered = this.buffered.subarray(step.length);
    return step;
  }

  /** Everything still buffered (e.g. pipelined payload after the request); empties the buffer. */
  takeRest(): Buffer {
    const rest = this.buffered;
    this.buffered = Buffer.alloc(0);
    return rest;
  }
}
