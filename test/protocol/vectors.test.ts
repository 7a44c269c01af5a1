/**
 * The codec against frames produced by LinkSocks Go v1.7.15's own PackMessage/ParseMessage
 * (../shared/vectors/vectors.jsonl; its README says how each kind of line is meant to be used).
 */
import { expect } from 'chai';
import {
  decodeMessage,
  encodeMessage,
  ProtocolError,
  type DataMessage,
  type Message,
} from '../../src/protocol/index.js';
import { comparable, loadVectors, sha256Hex, toMessage, VECTORS_PATH, type ValidVector } from './fixtures.js';

/**
 * Invalid vectors that this codec accepts on purpose, because it follows the HEAD rules of
 * PROTOCOL.md §2.1 and §5 (see decode.ts): unknown type bytes are reported as `unsupported`, and
 * a version byte whose major nibble is 0 is accepted.
 */
const HEAD_TOLERATED: Readonly<Record<string, (message: Message) => void>> = {
  invalid_unknown_type_0: (m) => expect(m).to.include({ type: 'unsupported', messageType: 0x00 }),
  invalid_unknown_type_0b: (m) => expect(m).to.include({ type: 'unsupported', messageType: 0x0b }),
  invalid_unknown_type_ff: (m) => {
    expect(m).to.include({ type: 'unsupported', messageType: 0xff });
    expect((m as { body: Buffer }).body.toString('hex')).to.equal('00');
  },
  // Version 0x02 is "major 0, minor 2". The body is long enough for an Auth: token length 3
  // ("tes"), the next byte ('t') as the reverse flag, 16 bytes of instance, one trailing byte.
  invalid_version_2: (m) =>
    expect(comparable(m)).to.deep.equal({
      type: 'auth',
      token: 'tes',
      reverse: true,
      instance: '000d2c6b-8e4f-0a4c-1e9a-537b6e2f1d3c',
    }),
};

/**
 * Valid vectors whose trailing bytes the newest parser reads (NEWEST.md §1.3), so this codec does
 * too: a non-zero byte after a TCP Connect's port is the Resume byte. The Go fields still match.
 */
const NEWEST_SUFFIX: Readonly<Record<string, Record<string, unknown>>> = {
  connect_tcp_trailing_bytes: { resume: true },
};

/** Where the channel id sits, per type byte, for messages that carry one. */
const CHANNEL_OFFSET: Readonly<Record<number, number>> = { 3: 3, 4: 3, 5: 3, 6: 2, 7: 2, 8: 2 };

function expectedChannelId(frame: Buffer): string | undefined {
  const offset = CHANNEL_OFFSET[frame[1] ?? -1];
  if (offset === undefined || frame.length < offset + 16) return undefined;
  const hex = frame.subarray(offset, offset + 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const vectors = loadVectors();

describe('protocol: Go v1.7.15 wire vectors', function () {
  if (vectors === undefined) {
    it(`needs ${VECTORS_PATH} (shared vectors not checked out)`, function () {
      this.skip();
    });
    return;
  }

  it('the vector file holds valid and invalid vectors', function () {
    expect(vectors.valid.length).to.be.greaterThan(50);
    expect(vectors.invalid.length).to.be.greaterThan(40);
  });

  describe('decode(valid hex) gives the Go fields', function () {
    for (const vector of vectors.valid) {
      it(vector.name, function () {
        const expected = toMessage(vector.type, vector.parsed ?? vector.fields);
        const frame = vector.hex !== undefined ? Buffer.from(vector.hex, 'hex') : encodeMessage(expected);
        if (vector.hex === undefined) checkWireDigest(vector, frame);
        const decoded = decodeMessage(frame);
        if (decoded.type === 'data' && expected.type === 'data' && expected.data.length > 4096) {
          // Big payloads: compare digests, not megabytes of hex in a failure message.
          expect(decoded.data.length).to.equal(expected.data.length);
          expect(sha256Hex(decoded.data)).to.equal(vector.fields['data_sha256']);
          expect({ ...comparable(decoded), data: '' }).to.deep.equal({ ...comparable(expected), data: '' });
          return;
        }
        expect(comparable(decoded)).to.deep.equal({ ...comparable(expected), ...NEWEST_SUFFIX[vector.name] });
      });
    }
  });

  describe('encode(Go fields) gives the Go bytes', function () {
    for (const vector of vectors.valid) {
      if (vector.parse_only || vector.hex === undefined) continue;
      it(vector.name, function () {
        const message = toMessage(vector.type, vector.fields);
        const goFrame = Buffer.from(vector.hex!, 'hex');
        const ours = encodeMessage(message);
        if (message.type === 'data' && message.compression === 1) {
          expectSameOutsideGzipBody(ours, goFrame, message);
        } else {
          expect(ours.toString('hex')).to.equal(vector.hex);
        }
      });
    }
  });

  describe('decode(invalid hex) throws ProtocolError', function () {
    for (const vector of vectors.invalid) {
      it(`${vector.name} (Go: ${vector.error})`, function () {
        const frame = Buffer.from(vector.hex, 'hex');
        const tolerated = HEAD_TOLERATED[vector.name];
        if (tolerated !== undefined) {
          tolerated(decodeMessage(frame));
          return;
        }
        let thrown: unknown;
        try {
          decodeMessage(frame);
        } catch (error) {
          thrown = error;
        }
        expect(thrown, 'decode must reject this frame').to.be.instanceOf(ProtocolError);
        const error = thrown as ProtocolError;
        expect(error.code).to.match(/^ERR_LINKSOCKS_/);
        expect(error.channelId).to.equal(expectedChannelId(frame));
      });
    }
  });
});

/** The one vector without a full hex: only the prefix, length and digest of Go's frame are given. */
function checkWireDigest(vector: ValidVector, ours: Buffer): void {
  expect(vector.hex_prefix, 'vector without hex must give hex_prefix').to.be.a('string');
  expect(ours.subarray(0, vector.hex_prefix!.length / 2).toString('hex')).to.equal(vector.hex_prefix);
  expect(ours.length).to.equal(vector.wire_len);
  expect(sha256Hex(ours)).to.equal(vector.wire_sha256);
}

/**
 * gzip bytes differ between Go and Node (PROTOCOL.md §7): compare the header without its length
 * field, the UDP trailer, and what each body gunzips to.
 */
function expectSameOutsideGzipBody(ours: Buffer, goFrame: Buffer, message: DataMessage): void {
  expect(ours.subarray(0, 20).toString('hex')).to.equal(goFrame.subarray(0, 20).toString('hex'));
  const ourEnd = 24 + ours.readUInt32BE(20);
  const goEnd = 24 + goFrame.readUInt32BE(20);
  expect(ours.subarray(ourEnd).toString('hex')).to.equal(goFrame.subarray(goEnd).toString('hex'));
  const ourDecoded = decodeMessage(ours) as DataMessage;
  const goDecoded = decodeMessage(goFrame) as DataMessage;
  expect(ourDecoded.data.equals(message.data)).to.equal(true);
  expect(goDecoded.data.equals(message.data)).to.equal(true);
}
