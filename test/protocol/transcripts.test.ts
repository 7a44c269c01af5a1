/**
 * Every binary frame two real Go v1.7.15 peers exchanged (../shared/transcripts, recorded by a
 * logging WebSocket proxy) must decode, and encoding the result must give the same bytes back.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMessage, encodeMessage, type DataMessage } from '../../src/protocol/index.js';
import { TRANSCRIPTS_DIR } from './fixtures.js';

interface BinaryFrame {
  scenario: string;
  line: number;
  dir: string;
  hex: string;
}

function loadBinaryFrames(): BinaryFrame[] | undefined {
  if (!existsSync(TRANSCRIPTS_DIR)) return undefined;
  const frames: BinaryFrame[] = [];
  for (const file of readdirSync(TRANSCRIPTS_DIR).filter((name) => name.endsWith('.jsonl')).sort()) {
    const lines = readFileSync(join(TRANSCRIPTS_DIR, file), 'utf8').split('\n');
    lines.forEach((text, index) => {
      if (text.trim() === '') return;
      const entry = JSON.parse(text) as Record<string, unknown>;
      // A truncated frame only holds the first 256 bytes of the payload: nothing to decode.
      if (entry['kind'] !== 'binary' || entry['truncated'] === true) return;
      frames.push({ scenario: file.replace(/\.jsonl$/, ''), line: index + 1, dir: String(entry['dir']), hex: String(entry['hex']) });
    });
  }
  return frames;
}

const frames = loadBinaryFrames();

describe('protocol: Go-to-Go transcripts', function () {
  if (frames === undefined) {
    it(`needs ${TRANSCRIPTS_DIR} (shared transcripts not checked out)`, function () {
      this.skip();
    });
    return;
  }

  it('the transcripts hold binary frames of every scenario', function () {
    expect(frames.length).to.be.greaterThan(50);
    expect(new Set(frames.map((frame) => frame.scenario)).size).to.be.greaterThan(5);
  });

  for (const frame of frames) {
    it(`${frame.scenario}:${frame.line} ${frame.dir} ${frame.hex.slice(0, 4)}`, function () {
      const bytes = Buffer.from(frame.hex, 'hex');
      const message = decodeMessage(bytes);
      expect(message.type, 'Go v1.7.15 only sends known types').to.not.equal('unsupported');
      if (message.type === 'unsupported') return;
      const again = encodeMessage(message);
      if (message.type === 'data' && message.compression === 1) {
        // gzip bytes are encoder-specific (PROTOCOL.md §7); the payload must survive.
        expect((decodeMessage(again) as DataMessage).data.equals(message.data)).to.equal(true);
      } else {
        expect(again.toString('hex')).to.equal(frame.hex);
      }
    });
  }
});
