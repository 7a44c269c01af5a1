/**
 * Child processes of the benchmark: spawning, waiting for readiness, reading their CPU time and
 * memory from /proc, and making sure none survives the run (normal exit, error or Ctrl-C).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';

const children = new Set<ChildProcess>();
let exitHooksInstalled = false;

/** Kills every child still running; synchronous so it also works from an 'exit' handler. */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

export interface SpawnedChild {
  child: ChildProcess;
  pid: number;
  /** Everything the child printed so far (stdout and stderr), for error messages. */
  output(): string;
  /** Asks the child to stop (stdin closed, SIGTERM), then SIGKILLs it after `graceMs`. */
  kill(graceMs?: number): Promise<void>;
}

/**
 * Starts a child with piped stdio. The child's stdin stays open: our TS peers exit when it closes,
 * so they die with the benchmark even if it is killed without a chance to clean up.
 */
export function spawnChild(command: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnedChild {
  installExitHooks();
  const child = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  children.add(child);
  let log = '';
  const append = (chunk: Buffer): void => {
    // Keep only the tail: a chatty child must not grow our memory.
    log = (log + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  child.once('exit', () => children.delete(child));
  if (child.pid === undefined) throw new Error(`cannot start ${command}`);
  return {
    child,
    pid: child.pid,
    output: () => log,
    kill: (graceMs = 0) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        // A graceful stop lets `node --cpu-prof` write its profile.
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        if (graceMs > 0) {
          child.stdin?.end();
          child.kill('SIGTERM');
        }
      }),
  };
}

/** Resolves with the first stdout line starting with `prefix` (rest of the line), or rejects. */
export function waitForLine(spawned: SpawnedChild, prefix: string, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${prefix}: ${spawned.output()}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      pending += chunk.toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line.startsWith(prefix)) return finish(undefined, line.slice(prefix.length).trim());
      }
    };
    const onExit = (): void => finish(new Error(`child exited before ${prefix}: ${spawned.output()}`));
    const finish = (err: Error | undefined, value = ''): void => {
      clearTimeout(timer);
      spawned.child.stdout?.off('data', onData);
      spawned.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value);
    };
    spawned.child.stdout?.on('data', onData);
    spawned.child.once('exit', onExit);
  });
}

/** A TCP port free right now on 127.0.0.1 (for programs that need a port on the command line). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ; fixed at 100 on Linux for /proc/<pid>/stat.

/** User + system CPU seconds consumed so far by a process. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces; the remaining fields start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the full line, i.e. 11 and 12 after comm and state.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}
