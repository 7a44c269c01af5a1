import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { TokenStore } from '../../src/server/token-store.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'state-writer.ts');

/** Runs the writer until it has acknowledged `stopAfter` tokens, then SIGKILLs it mid-stream. */
async function runAndKill(file: string, stopAfter: number): Promise<string[]> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', FIXTURE, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4096);
  });
  let buffered = '';
  const acknowledged: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    buffered += text;
    const lines = buffered.split('\n');
    buffered = lines.pop()!; // an unterminated line was not fully acknowledged
    acknowledged.push(...lines);
    if (acknowledged.length >= stopAfter && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  expect(signal, `writer exited early (code ${code}): ${stderr}`).to.equal('SIGKILL');
  return acknowledged;
}

describe('TokenStore state file durability', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'linksocks-durability-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged token when the process is SIGKILLed at a random point', async () => {
    for (let run = 0; run < 3; run++) {
      const file = join(dir, `state-${run}.json`);
      const stopAfter = 5 + Math.floor(Math.random() * 60);
      const acknowledged = await runAndKill(file, stopAfter);
      expect(acknowledged.length).to.be.at.least(stopAfter);
      const reloaded = new TokenStore({ stateFile: file, portRange: { min: 40000, max: 49999 } });
      for (const token of acknowledged) expect(reloaded.has(token), token).to.equal(true);
      for (const record of reloaded.list()) {
        if (record.kind === 'reverse') expect(record.password).to.equal('p');
      }
    }
  });
});
