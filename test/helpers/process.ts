// Child processes for tests: captured output, waiting for log lines, and a registry that a root
// mocha hook empties so no process survives a failed test.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

// Go's zerolog console writer colours its output even with NO_COLOR in some versions.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Label used in error messages; default the command's base name. */
  name?: string;
  /**
   * Lives until the suite stops it (stopAllProcesses), even when spawned inside a test: for
   * processes later tests of a suite build on. Default: a process spawned in a test ends with it.
   */
  suiteScoped?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LineWaitOptions {
  timeoutMs?: number;
  /** Only look at stdout or stderr; default both. */
  stream?: 'stdout' | 'stderr' | 'both';
}

interface CapturedLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

interface LineWaiter {
  regex: RegExp;
  stream: 'stdout' | 'stderr' | 'both';
  resolve(match: RegExpMatchArray): void;
  reject(err: Error): void;
}

const registry = new Set<TestProcess>();

export class TestProcess {
  readonly child: ChildProcess;
  readonly name: string;
  /** All output lines so far, ANSI codes removed. */
  readonly lines: CapturedLine[] = [];
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | undefined;
  private readonly waiters = new Set<LineWaiter>();
  private spawnError: Error | undefined;

  constructor(cmd: string, args: readonly string[], options: SpawnOptions = {}) {
    this.name = options.name ?? path.basename(cmd);
    this.child = spawn(cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    registry.add(this);
    if (options.suiteScoped !== true) noteSpawn(this);
    this.capture('stdout');
    this.capture('stderr');
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('error', (err) => {
        this.spawnError = err;
        // 'exit' never comes when the spawn itself failed.
        if (this.child.pid === undefined) this.onExit({ code: null, signal: null }, resolve);
      });
      this.child.once('close', (code, signal) => this.onExit({ code, signal }, resolve));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Captured output as one text block (for assertion messages). */
  output(): string {
    return this.lines.map((l) => `[${this.name} ${l.stream}] ${l.text}`).join('\n');
  }

  /** First already-captured line matching `regex`, if any. */
  findLine(regex: RegExp, stream: 'stdout' | 'stderr' | 'both' = 'both'): RegExpMatchArray | undefined {
    for (const line of this.lines) {
      if (stream !== 'both' && line.stream !== stream) continue;
      const match = line.text.match(regex);
      if (match) return match;
    }
    return undefined;
  }

  /**
   * Resolves with the match of the first line (past or future) matching `regex`. Rejects with the
   * captured output on timeout or when the process exits first.
   */
  waitForLine(regex: RegExp, options: LineWaitOptions | number = {}): Promise<RegExpMatchArray> {
    const opts = typeof options === 'number' ? { timeoutMs: options } : options;
    const stream = opts.stream ?? 'both';
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const existing = this.findLine(regex, stream);
    if (existing) return Promise.resolve(existing);
    if (this.exitInfo) return Promise.reject(this.failure(`exited (${describeExit(this.exitInfo)}) before printing ${regex}`));
    return new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(this.failure(`no line matching ${regex} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: LineWaiter = {
        regex,
        stream,
        resolve: (match) => {
          clearTimeout(timer);
          resolve(match);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Waits for exit (failure guard `timeoutMs`), without signalling. */
  async waitForExit(timeoutMs = 10_000): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.failure(`did not exit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, guard]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 3000): Promise<ExitInfo> {
    if (!this.exitInfo && this.child.pid !== undefined) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }

  private capture(stream: 'stdout' | 'stderr'): void {
    const source = this.child[stream];
    if (!source) return;
    source.setEncoding('utf8');
    let partial = '';
    source.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split(/\r?\n/);
      partial = parts.pop() ?? '';
      for (const text of parts) this.addLine(stream, text);
    });
    source.on('end', () => {
      if (partial !== '') this.addLine(stream, partial);
      partial = '';
    });
  }

  private addLine(stream: 'stdout' | 'stderr', raw: string): void {
    const text = stripAnsi(raw);
    this.lines.push({ stream, text });
    if (process.env.TEST_PROCESS_ECHO) process.stderr.write(`[${this.name} ${stream}] ${text}\n`);
    for (const waiter of this.waiters) {
      if (waiter.stream !== 'both' && waiter.stream !== stream) continue;
      const match = text.match(waiter.regex);
      if (match) {
        this.waiters.delete(waiter);
        waiter.resolve(match);
      }
    }
  }

  private onExit(info: ExitInfo, resolve: (info: ExitInfo) => void): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    registry.delete(this);
    const reason = this.spawnError ? `failed to start: ${this.spawnError.message}` : `exited (${describeExit(info)})`;
    for (const waiter of this.waiters) waiter.reject(this.failure(`${reason} while waiting for ${waiter.regex}`));
    this.waiters.clear();
    resolve(info);
  }

  private failure(message: string): Error {
    const out = this.output();
    return new Error(`${this.name}: ${message}\n--- captured output ---\n${out === '' ? '(none)' : out}`);
  }
}

function describeExit(info: ExitInfo): string {
  return info.signal ? `signal ${info.signal}` : `code ${String(info.code)}`;
}

export function spawnProcess(cmd: string, args: readonly string[], options: SpawnOptions = {}): TestProcess {
  return new TestProcess(cmd, args, options);
}

/** Processes started by tests that have not exited yet. */
export function liveProcesses(): TestProcess[] {
  return [...registry];
}

/** Stops every registered process (used by the root hooks; also callable from a suite). */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...registry].map((p) => p.stop()));
}

/** The Go binary from LINKSOCKS_BIN (relative paths resolve against the working directory), or undefined. */
export function goBinary(): string | undefined {
  const value = process.env.LINKSOCKS_BIN?.trim();
  if (!value) return undefined;
  return path.resolve(process.cwd(), value);
}

const cliEntry = fileURLToPath(new URL('./cli-entry.ts', import.meta.url));

/** Command and leading arguments that run our CLI from source: append the CLI arguments. */
export function tsCli(): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', cliEntry]];
}

// Processes spawned while a test (or its beforeEach hooks) runs belong to that test and are
// stopped right after it; those spawned in `before` hooks live until the suite stops them, or at
// the latest until the root `after` hook. Either way a failure cannot leave processes behind.
const testScoped = new WeakSet<TestProcess>();
let insideTest = false;

function noteSpawn(proc: TestProcess): void {
  if (insideTest) testScoped.add(proc);
}

// Mocha's BDD globals exist only when loaded by mocha; a module-level call attaches to the root suite.
if (typeof beforeEach === 'function' && typeof afterEach === 'function' && typeof after === 'function') {
  beforeEach(function markTestStart() {
    insideTest = true;
  });
  afterEach(async function stopTestProcesses() {
    insideTest = false;
    await Promise.all(liveProcesses().filter((p) => testScoped.has(p)).map((p) => p.stop()));
  });
  after(stopAllProcesses);
}
