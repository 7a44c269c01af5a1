/**
 * Incremental, pure readers of HTTP/1.1 message bodies (RFC 9112 §6–7) for the forwarding proxy:
 * they say which input bytes belong to the body, hand out its data as slices of the input (no
 * copies) and say where the body ends, so whatever follows is the next message. Chunked bodies are
 * decoded strictly (hex sizes only, CRLF everywhere, bounded size lines and trailers) and the proxy
 * re-encodes the data itself, so the next hop never sees the client's own chunk syntax.
 */
import { LinkSocksError } from '../errors.js';

export interface BodyStep {
  /** Input bytes that belonged to the body (the rest of the input is not the body's). */
  consumed: number;
  /** Body data found in them: slices of the input. */
  data: Buffer[];
  /** The body is complete. */
  done: boolean;
}

/** Malformed body framing; the proxy answers 400 and closes. */
export class BodyError extends LinkSocksError {
  override readonly name = 'BodyError';
  declare readonly code: 'ERR_SOCKS5_HTTP_BODY';

  constructor(message: string) {
    super('ERR_SOCKS5_HTTP_BODY', message);
  }
}

export interface BodyReader {
  /** Throws BodyError on malformed framing. */
  feed(input: Buffer): BodyStep;
  /** The peer closed its side: true when that legitimately ends this body. */
  endOfInput(): boolean;
  readonly done: boolean;
}

/** A body of exactly `length` bytes. */
export class LengthBody implements BodyReader {
  private remaining: number;

  constructor(length: number) {
    this.remaining = length;
  }

  get done(): boolean {
    return this.remaining === 0;
  }

  feed(input: Buffer): BodyStep {
    const take = Math.min(this.remaining, input.length);
    this.remaining -= take;
    const data = take === 0 ? [] : [take === input.length ? input : input.subarray(0, take)];
    return { consumed: take, data, done: this.remaining === 0 };
  }

  endOfInput(): boolean {
    return this.remaining === 0;
  }
}

/** A body delimited by the end of the connection (responses only). */
export class CloseDelimitedBody implements BodyReader {
  private ended = false;

  get done(): boolean {
    return this.ended;
  }

  feed(input: Buffer): BodyStep {
    return { consumed: input.length, data: input.length === 0 ? [] : [input], done: false };
  }

  endOfInput(): boolean {
    this.ended = true;
    return true;
  }
}

/** Longest chunk-size line accepted (size, extensions, CRLF). */
export const MAX_CHUNK_LINE = 4096;
/** Largest trailer section accepted. */
export const MAX_TRAILER_BYTES = 16 * 1024;

/** Hex size, then optional extensions of visible characters (RFC 9112 §7.1.1). */
const CHUNK_LINE = /^([0-9A-Fa-f]{1,13})(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?$/;
const TRAILER_FIELD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;

type ChunkState = 'size' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'done';

/**
 * `Transfer-Encoding: chunked`. Trailer fields are validated and dropped (the proxy re-encodes
 * without trailers; nothing common relies on request or response trailers over HTTP/1.1).
 */
export class ChunkedBody implements BodyReader {
  private state: ChunkState = 'size';
  /** Bytes of the current size or trailer line (until its LF). */
  private line: Buffer[] = [];
  private lineLength = 0;
  private trailerBytes = 0;
  private remaining = 0;

  get done(): boolean {
    return this.state === 'done';
  }

  endOfInput(): boolean {
    return this.state === 'done';
  }

  feed(input: Buffer): BodyStep {
    const data: Buffer[] = [];
    let at = 0;
    while (at < input.length && this.state !== 'done') {
      switch (this.state) {
        case 'size':
        case 'trailer': {
          const lf = input.indexOf(0x0a, at);
          const end = lf < 0 ? input.length : lf + 1;
          this.lineLength += end - at;
          const limit = this.state === 'size' ? MAX_CHUNK_LINE : MAX_TRAILER_BYTES - this.trailerBytes;
          if (this.lineLength > limit) throw new BodyError(this.state === 'size' ? 'chunk size line too long' : 'trailer section too large');
          this.line.push(input.subarray(at, end));
          at = end;
          if (lf >= 0) this.endLine();
          break;
        }
        case 'data': {
          const take = Math.min(this.remaining, input.length - at);
          data.push(input.subarray(at, at + take));
          this.remaining -= take;
          at += take;
          if (this.remaining === 0) this.state = 'data-cr';
          break;
        }
        case 'data-cr':
          if (input[at] !== 0x0d) throw new BodyError('chunk data not followed by CRLF');
          at += 1;
          this.state = 'data-lf';
          break;
        case 'data-lf':
          if (input[at] !== 0x0a) throw new BodyError('chunk data not followed by CRLF');
          at += 1;
          this.state = 'size';
          break;
      }
    }
    return { consumed: at, data, done: this.state === 'done' };
  }

  private endLine(): void {
    const raw = Buffer.concat(this.line);
    this.line = [];
    this.lineLength = 0;
    if (raw.length < 2 || raw[raw.length - 2] !== 0x0d) throw new BodyError('bare LF in chunked framing');
    const text = raw.toString('latin1', 0, raw.length - 2);
    if (text.includes('\r')) throw new BodyError('bare CR in chunked framing');
    if (this.state === 'size') {
      const match = CHUNK_LINE.exec(text);
      if (match === null) throw new BodyError(`invalid chunk size line ${JSON.stringify(text.slice(0, 40))}`);
      const size = Number.parseInt(match[1]!, 16);
      if (size === 0) {
        this.state = 'trailer';
      } else {
        this.remaining = size;
        this.state = 'data';
      }
      return;
    }
    this.trailerBytes += raw.length;
    if (text === '') {
      this.state = 'done';
      return;
    }
    if (!TRAILER_FIELD.test(text)) throw new BodyError('invalid trailer field');
  }
}

/** One chunk of `data` in chunked encoding, as the pieces to write (the data is not copied). */
export function encodeChunk(data: Buffer): Buffer[] {
  return [Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, CRLF];
}

const CRLF = Buffer.from('\r\n', 'latin1');
export const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
