import { expect } from 'chai';
import { Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { writeTcpDataFrame } from '../../src/relay/data-frame.js';

/** A stand-in socket that keeps every buffer written to it. */
function recordingSocket(): { socket: Socket; written: Buffer[] } {
  const written: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      written.push(Buffer.from(chunk));
      callback();
    },
  });
  return { socket: sink as unknown as Socket, written };
}

const CHANNEL = '0123456789abcdef0123456789abcdef'.replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5');

describe('masked Data frames leave the caller\'s payload as it was', () => {
  // A client's payload can be a shared buffer (a constant CRLF of the HTTP proxy's chunk framing, a
  // request kept for a retry): masking it in place once corrupted every later use of it.
  for (const size of [0, 3, 47, 48, 125, 4096, 65_536]) {
    it(`payload of ${size} bytes`, () => {
      const payload = Buffer.alloc(size, 0x61);
      const copy = Buffer.from(payload);
      const { socket, written } = recordingSocket();
      writeTcpDataFrame(socket, 'masked', CHANNEL, payload);
      writeTcpDataFrame(socket, 'masked', CHANNEL, payload);
      expect(payload.equals(copy)).to.equal(true);
      // Each frame is one write carrying the payload under its own key: unmasking gives it back.
      expect(written).to.have.length(2);
      for (const frame of written) {
        const extended = (frame[1]! & 0x7f) === 126 ? 2 : (frame[1]! & 0x7f) === 127 ? 8 : 0;
        expect(frame[1]! & 0x80).to.equal(0x80);
        const key = frame.subarray(2 + extended, 6 + extended);
        const body = Buffer.from(frame.subarray(6 + extended));
        for (let i = 0; i < body.length; i += 1) body[i]! ^= key[i & 3]!;
        expect(body.subarray(body.length - size).equals(copy)).to.equal(true);
      }
    });
  }
});
