/**
 * Hostile and oversized input: the decoder must answer every byte string with a message or a
 * ProtocolError, and both directions must enforce the wire's size limits.
 */
import { expect } from 'chai';
import { gzipSync } from 'node:zlib';
import {
  decodeMessage,
  DEFAULT_MAX_DECOMPRESSED_SIZE,
  encodeMessage,
  MAX_ENCODED_MESSAGE_SIZE,
  ProtocolError,
  type DataMessage,
  type Message,
  type OutgoingMessage,
  type ProtocolErrorCode,
} from '../../src/protocol/index.js';
import { comparable, loadVectors } from './fixtures.js';

const CHANNEL = '11223344-5566-7788-99aa-bbccddeeff00';

/** mulberry32: tiny, seedable, good enough to spread fuzz inputs; same sequence on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs decode; returns the message, or undefined after checking the error is a ProtocolError. */
function decodeOrProtocolError(frame: Buffer): Message | undefined {
  try {
    return decodeMessage(frame);
  } catch (error) {
    if (!(error instanceof ProtocolError)) {
      throw new Error(`decode(${frame.toString('hex')}) threw a non-ProtocolError: ${String(error)}`);
    }
    expect(error.code).to.match(/^ERR_LINKSOCKS_/);
    return undefined;
  }
}

/** Text that survived a UTF-8 round trip unchanged (no replacement characters, no lone surrogates). */
function isCleanText(message: Message): boolean {
  return Object.values(message).every(
    (value) => typeof value !== 'string' || !/[\ufffd\ud800-\udfff]/.test(value),
  );
}

/**
 * Whatever decodes must encode again (or be refused with a ProtocolError) and decode to the same
 * message, unless a string was altered on the way (invalid UTF-8, texts cut to 255 bytes).
 */
function expectStableRoundTrip(message: Message): void {
  if (message.type === 'unsupported') return;
  let again: Buffer;
  try {
    again = encodeMessage(message as OutgoingMessage);
  } catch (error) {
    expect(error, 'encode of a decoded message').to.be.instanceOf(ProtocolError);
    return;
  }
  if (!isCleanText(message)) return;
  const redecoded = decodeMessage(again);
  const original = comparable(message);
  // The optional token after an AuthResponse success is never sent (PROTOCOL.md §3.2), nor is
  // the sequence newer peers append to Data (NEWEST.md §1.3).
  delete original['assignedToken'];
  delete original['sequence'];
  expect(comparable(redecoded)).to.deep.equal(original);
}

function expectProtocolError(action: () => unknown, code: ProtocolErrorCode): ProtocolError {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).to.be.instanceOf(ProtocolError);
  expect((thrown as ProtocolError).code).to.equal(code);
  return thrown as ProtocolError;
}

/** Seeds for mutation: the Go vectors when present, else the worked examples of PROTOCOL.md §8. */
function seedFrames(): Buffer[] {
  const vectors = loadVectors();
  const hexes = vectors
    ? [...vectors.valid.flatMap((v) => (v.hex !== undefined && v.hex.length < 4096 ? [v.hex] : [])), ...vectors.invalid.map((v) => v.hex)]
    : [
        '010103746f6b010f1e2d3c4b5a69788796a5b4c3d2e1f0',
        '0104011122334455667788' + '99aabbccddeeff00000000000361626' + '3',
        '01040211223344556677889' + '9aabbccddeeff000000000002686900000007382e382e382e380035',
        '01081122334455667788' + '99aabbccddeeff0001046374' + '6f6b',
      ];
  return hexes.map((hex) => Buffer.from(hex, 'hex'));
}

describe('protocol: robustness', function () {
  describe('fuzz (seeded, deterministic)', function () {
    const seeds = seedFrames();

    it('every truncation of every seed frame decodes or throws ProtocolError', function () {
      let inputs = 0;
      for (const seed of seeds) {
        for (let length = 0; length <= seed.length; length++) {
          const message = decodeOrProtocolError(seed.subarray(0, length));
          if (message !== undefined) expectStableRoundTrip(message);
          inputs++;
        }
      }
      expect(inputs).to.be.greaterThan(seeds.length);
    });

    it('10 000 bit-flipped seed frames decode or throw ProtocolError', function () {
      const random = prng(0x11235813);
      let decoded = 0;
      for (let round = 0; round < 10_000; round++) {
        const frame = Buffer.from(seeds[Math.floor(random() * seeds.length)]!);
        if (frame.length === 0) continue;
        const flips = 1 + Math.floor(random() * 4);
        for (let flip = 0; flip < flips; flip++) {
          const bit = Math.floor(random() * frame.length * 8);
          frame[bit >> 3]! ^= 1 << (bit & 7);
        }
        const message = decodeOrProtocolError(frame);
        if (message !== undefined) {
          expectStableRoundTrip(message);
          decoded++;
        }
      }
      // Many flips hit payload bytes and still decode; if none did, the test would prove little.
      expect(decoded).to.be.greaterThan(1000);
    });

    it('10 000 random frames decode or throw ProtocolError', function () {
      const random = prng(0xc0ffee);
      const seen = new Set<string>();
      for (let round = 0; round < 10_000; round++) {
        const frame = Buffer.alloc(Math.floor(random() * 80));
        for (let i = 0; i < frame.length; i++) frame[i] = Math.floor(random() * 256);
        // Mostly a valid header, so the body parsers get exercised rather than the version check.
        if (frame.length > 0 && random() < 0.9) frame[0] = 0x01;
        if (frame.length > 1 && random() < 0.9) frame[1] = 1 + Math.floor(random() * 11);
        const message = decodeOrProtocolError(frame);
        seen.add(message?.type ?? 'error');
        if (message !== undefined) expectStableRoundTrip(message);
      }
      expect(seen.has('error')).to.equal(true);
      expect(seen.size).to.be.greaterThan(5);
    });
  });

  describe('strings longer than 255 bytes', function () {
    const tooLong = 'x'.repeat(256);
    // 128 two-byte characters: 128 characters but 256 bytes.
    const tooLongUtf8 = '\u00e9'.repeat(128);
    const refused: Array<[string, (value: string) => OutgoingMessage]> = [
      ['auth token', (v) => ({ type: 'auth', token: v, reverse: false, instance: CHANNEL })],
      ['connect address', (v) => ({ type: 'connect', protocol: 'tcp', channelId: CHANNEL, address: v, port: 80 })],
      ['connector token', (v) => ({ type: 'connector', channelId: CHANNEL, connectorToken: v, operation: 'add' })],
      [
        'connector response token',
        (v) => ({ type: 'connectorResponse', success: true, channelId: CHANNEL, error: '', connectorToken: v }),
      ],
      ['udp data address', (v) => udpData(v, '')],
      ['udp data target address', (v) => udpData('', v)],
    ];
    for (const [field, build] of refused) {
      it(`encode refuses a ${field} of 256 bytes with ERR_LINKSOCKS_STRING_TOO_LONG`, function () {
        expectProtocolError(() => encodeMessage(build(tooLong)), 'ERR_LINKSOCKS_STRING_TOO_LONG');
        expectProtocolError(() => encodeMessage(build(tooLongUtf8)), 'ERR_LINKSOCKS_STRING_TOO_LONG');
        expect(encodeMessage(build('x'.repeat(255))).length).to.be.greaterThan(255);
      });
    }

    it('encode cuts long error texts to 255 bytes at a UTF-8 boundary', function () {
      // 'ab' + 200 × 'é' = 402 bytes; 255 bytes would split the 127th 'é', so 254 bytes remain.
      const frame = encodeMessage({ type: 'disconnect', channelId: CHANNEL, error: 'ab' + '\u00e9'.repeat(200) });
      expect(frame[18]).to.equal(254);
      expect(frame.length).to.equal(19 + 254);
      const message = decodeMessage(frame);
      expect(message).to.deep.include({ type: 'disconnect', error: 'ab' + '\u00e9'.repeat(126) });
    });
  });

  describe('size limits', function () {
    it('a gzip bomb beyond the default 32 MiB cap is refused with ERR_LINKSOCKS_TOO_LARGE', function () {
      expect(DEFAULT_MAX_DECOMPRESSED_SIZE).to.equal(32 * 1024 * 1024);
      const bomb = gzipSync(Buffer.alloc(DEFAULT_MAX_DECOMPRESSED_SIZE + 1), { level: 9 });
      expect(bomb.length).to.be.lessThan(64 * 1024);
      const error = expectProtocolError(() => decodeMessage(gzipData(bomb)), 'ERR_LINKSOCKS_TOO_LARGE');
      expect(error.channelId).to.equal(CHANNEL);
    });

    it('maxDecompressedSize is exact: N bytes pass, N + 1 are refused', function () {
      const payload = Buffer.alloc(4096, 0x61);
      const frame = gzipData(gzipSync(payload));
      const message = decodeMessage(frame, { maxDecompressedSize: 4096 });
      expect(message.type === 'data' && message.data.equals(payload)).to.equal(true);
      expectProtocolError(() => decodeMessage(frame, { maxDecompressedSize: 4095 }), 'ERR_LINKSOCKS_TOO_LARGE');
    });

    it('corrupt gzip is ERR_LINKSOCKS_GZIP with the channel id', function () {
      const good = gzipSync(Buffer.from('hello'));
      const corrupt = Buffer.from(good);
      corrupt[corrupt.length - 5]! ^= 0xff; // CRC32 mismatch
      const error = expectProtocolError(() => decodeMessage(gzipData(corrupt)), 'ERR_LINKSOCKS_GZIP');
      expect(error.channelId).to.equal(CHANNEL);
    });

    it('a declared Data length of 0xffffffff is a truncation, not an allocation', function () {
      const frame = Buffer.from('010401' + CHANNEL.replace(/-/g, '') + '00ffffffff', 'hex');
      const error = expectProtocolError(() => decodeMessage(frame), 'ERR_LINKSOCKS_TRUNCATED');
      expect(error.channelId).to.equal(CHANNEL);
    });

    it('encode refuses a frame that a Go peer would drop (≥ 32 MiB)', function () {
      const data = Buffer.alloc(MAX_ENCODED_MESSAGE_SIZE - 24);
      const message: OutgoingMessage = { ...dataMessage('udp', '', ''), protocol: 'tcp', data };
      expectProtocolError(() => encodeMessage(message), 'ERR_LINKSOCKS_TOO_LARGE');
    });
  });
});

function udpData(address: string, targetAddr: string): OutgoingMessage {
  return dataMessage('udp', address, targetAddr);
}

function dataMessage(protocol: 'tcp' | 'udp', address: string, targetAddr: string): DataMessage {
  return {
    type: 'data',
    protocol,
    channelId: CHANNEL,
    compression: 0,
    data: Buffer.from('q'),
    address,
    port: 0,
    targetAddr,
    targetPort: 53,
  };
}

/** A TCP Data frame whose body is the given bytes, flagged as gzip. */
function gzipData(body: Buffer): Buffer {
  const header = Buffer.from('010401' + CHANNEL.replace(/-/g, '') + '01' + '00000000', 'hex');
  header.writeUInt32BE(body.length, 20);
  return Buffer.concat([header, body]);
}
