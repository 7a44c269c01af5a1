// A private Redis for a test suite: Debian's redis-server on a free loopback port, persistence
// off, stopped (and waited for) by the suite. Missing redis-server skips locally but fails under
// CI=true, where a suite must never turn green by not running.
import { freePort, waitForPort } from './net.js';
import { spawnProcess, type TestProcess } from './process.js';
import { requireTool } from './tools.js';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly process: TestProcess;
  /** Stops Redis (SIGTERM, waits for exit). */
  stop(): Promise<void>;
  /** Starts Redis again on the same port (after stop), empty. */
  restart(): Promise<void>;
}

/** In a mocha `before` hook: starts redis-server, or skips (fails under CI) when it is missing. */
export async function startRedis(context: Mocha.Context, options: { password?: string } = {}): Promise<TestRedis> {
  requireTool(context, 'redis-server');
  const port = await freePort();
  const launch = async (): Promise<TestProcess> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
    if (options.password !== undefined) args.push('--requirepass', options.password);
    const proc = spawnProcess('redis-server', args, { name: `redis-${port}` });
    await proc.waitForLine(/Ready to accept connections/, { timeoutMs: 10_000 });
    await waitForPort(port);
    return proc;
  };
  let proc = await launch();
  const auth = options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    get process() {
      return proc;
    },
    async stop() {
      await proc.stop();
    },
    async restart() {
      proc = await launch();
    },
  };
}
