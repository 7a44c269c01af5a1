import { expect } from 'chai';

import { snapshotResources, assertNoLeakedHandles } from '../helpers/leaks.js';
import { startEchoServer } from '../helpers/net.js';
import { goBinary, liveProcesses, spawnProcess, stripAnsi, tsCli } from '../helpers/process.js';

describe('helpers: process', () => {
  it('captures a line printed by a child and sees it exit', async () => {
    const child = spawnProcess(process.execPath, ['-e', 'console.log("ready port=1234"); console.error("to stderr")']);
    const match = await child.waitForLine(/ready port=(\d+)/);
    expect(match[1]).to.equal('1234');
    const exit = await child.waitForExit();
    expect(exit.code).to.equal(0);
    expect(child.findLine(/to stderr/, 'stderr')).to.not.equal(undefined);
  });

  it('rejects with the captured output when the child exits first', async () => {
    const child = spawnProcess(process.execPath, ['-e', 'console.log("something else"); process.exit(3)']);
    let error: unknown;
    try {
      await child.waitForLine(/never printed/, 5000);
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/exited \(code 3\)/).and.match(/something else/);
  });

  it('stop() ends a long-running child', async () => {
    const child = spawnProcess(process.execPath, ['-e', 'console.log("up"); setInterval(() => {}, 1000)']);
    await child.waitForLine(/^up$/);
    const exit = await child.stop();
    expect(exit.signal).to.equal('SIGTERM');
    expect(liveProcesses()).to.not.include(child);
  });

  it('strips ANSI colour codes', () => {
    expect(stripAnsi('\u001b[90mtime\u001b[0m \u001b[32mINF\u001b[0m msg')).to.equal('time INF msg');
  });

  it('resolves LINKSOCKS_BIN against the working directory', () => {
    const saved = process.env.LINKSOCKS_BIN;
    try {
      process.env.LINKSOCKS_BIN = 'some/dir/linksocks';
      expect(goBinary()).to.equal(`${process.cwd()}/some/dir/linksocks`);
      delete process.env.LINKSOCKS_BIN;
      expect(goBinary()).to.equal(undefined);
    } finally {
      if (saved === undefined) delete process.env.LINKSOCKS_BIN;
      else process.env.LINKSOCKS_BIN = saved;
    }
  });

  it('tsCli points at the source entry through tsx', () => {
    const [cmd, args] = tsCli();
    expect(cmd).to.equal(process.execPath);
    expect(args.slice(0, 2)).to.deep.equal(['--import', 'tsx']);
    expect(args[2]).to.match(/cli-entry\.ts$/);
  });
});

describe('helpers: leaks', () => {
  it('reports an open server, then nothing once it is closed', async () => {
    const before = snapshotResources();
    const echo = await startEchoServer();
    let error: unknown;
    try {
      await assertNoLeakedHandles(before, { graceMs: 50 });
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/leaked handles: TCPServerWrap/);
    await echo.close();
    await assertNoLeakedHandles(before);
  });
});

describe('helpers: leaked timers', () => {
  it('reports a timer or interval left running, then nothing once it is cleared', async () => {
    const before = snapshotResources();
    const timer = setTimeout(() => undefined, 60_000);
    const interval = setInterval(() => undefined, 60_000);
    let error: unknown;
    try {
      await assertNoLeakedHandles(before, { graceMs: 50 });
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/leaked handles: Timeout x2/);
    clearTimeout(timer);
    clearInterval(interval);
    await assertNoLeakedHandles(before, { graceMs: 50 });
  });

  it('waits for a timer that ends within the grace period', async () => {
    const before = snapshotResources();
    setTimeout(() => undefined, 30);
    await assertNoLeakedHandles(before, { graceMs: 2000 });
  });

  it('does not count unref’d timers (they cannot keep the process alive)', async () => {
    const before = snapshotResources();
    const timer = setTimeout(() => undefined, 60_000).unref();
    await assertNoLeakedHandles(before, { graceMs: 50 });
    clearTimeout(timer);
  });
});
