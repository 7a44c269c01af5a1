/**
 * Throughput of the Data hot path: `npx tsx bench/codec.ts`. Prints one line per case; not a test.
 */
import { performance } from 'node:perf_hooks';
import { decodeMessage, encodeMessage, type DataMessage } from '../src/protocol/index.js';

const CHANNEL = '5f1b9c2a-7d3e-4a8b-b6c1-0e9f8d7c6b5a';

function dataMessage(size: number, compression: number): DataMessage {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31) & 0xff;
  return { type: 'data', protocol: 'tcp', channelId: CHANNEL, compression, data, address: '', port: 0, targetAddr: '', targetPort: 0 };
}

/** Runs `action` for about `budgetMs` after a warm-up and reports MiB/s of payload. */
function measure(label: string, payloadBytes: number, action: () => void, budgetMs = 500): void {
  for (let i = 0; i < 20; i++) action();
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    action();
    runs++;
    elapsed = performance.now() - start;
  }
  const perOpUs = (elapsed * 1000) / runs;
  const mibPerSecond = (payloadBytes * runs) / (elapsed / 1000) / (1024 * 1024);
  console.log(`${label.padEnd(28)} ${perOpUs.toFixed(1).padStart(10)} µs/op ${mibPerSecond.toFixed(0).padStart(8)} MiB/s`);
}

for (const [name, size] of [
  ['16 KiB', 16 * 1024],
  ['1 MiB', 1024 * 1024],
] as const) {
  const raw = dataMessage(size, 0);
  const rawFrame = encodeMessage(raw);
  measure(`encode ${name}`, size, () => encodeMessage(raw));
  measure(`decode ${name}`, size, () => decodeMessage(rawFrame));

  const gzip = dataMessage(size, 1);
  const gzipFrame = encodeMessage(gzip);
  measure(`encode ${name} gzip`, size, () => encodeMessage(gzip));
  measure(`decode ${name} gzip`, size, () => decodeMessage(gzipFrame));
}
