// Third-party programs the tests drive (curl, wget, chromium): found on PATH or skipped locally,
// but a failure under CI=true, where a missing tool must not silently turn a suite green.
import { execFile, execFileSync } from 'node:child_process';

export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** In a mocha test or hook: skips when `name` is missing, throws instead when CI=true. */
export function requireTool(context: Mocha.Context, name: string): void {
  if (hasTool(name)) return;
  if (process.env.CI === 'true') throw new Error(`${name} is required under CI=true but is not installed`);
  context.skip();
}

export interface ToolResult {
  /** Exit status (0 = success); -1 when killed (timeout). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; never rejects on its exit status. */
export function runTool(cmd: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise<ToolResult>((resolve) => {
    execFile(cmd, args, { env: options.env ?? process.env, timeout: options.timeoutMs ?? 20_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}
