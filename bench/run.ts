/**
 * `npm run bench [-- options]`: throughput, latency, memory and CPU of the proxy chains in
 * setups.ts, measured through their SOCKS ports against loopback targets. See USAGE below.
 */
import { readFileSync } from 'node:fs';
import { cpuSeconds, killAllChildren } from './proc.js';
import { FIGURES, percentile, type FigureKey } from './figures.js';
import * as measure from './measure.js';
import { jsonReport, markdownReport, type RunInfo, type SetupResult } from './report.js';
import { allSetups, startEchoPeer, type RunningSetup } from './setups.js';
import { startTargets, type Targets } from './targets.js';

const USAGE = `npm run bench [-- options]

  --quick              64 MiB transfers, 1 repetition, fewer samples (about a minute)
  --json               machine-readable output instead of markdown
  --repeat N           repetitions per figure (default 3; quick 1)
  --size MiB           bytes per transfer (default 512; quick 64)
  --setups a,b         only these setups (raw, raw-ts, ts-fwd, ts-rev, cluster, go-fwd, go-rev, tsC-goS, goC-tsS)
  --figures a,b        only these groups: latency, rtt, memory, throughput, eof
  --idle-channels N    channels held open for the memory figure (default 2000)
  --buffer-size N      bufferSize of TS peers and -b of Go servers
  --peer-node-args S   extra node flags for TS peers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  --help               this text

raw is a plain Node SOCKS5 pass-through (the baseline of every ratio); raw-ts is our Socks5Server
piping to the target. All setups are started first and the repetitions alternate between them.
LINKSOCKS_BIN=path/to/linksocks adds the Go and mixed setups.
`;

const MiB = 1024 * 1024;
const GROUPS = ['latency', 'rtt', 'memory', 'throughput', 'eof'] as const;
type Group = (typeof GROUPS)[number];

interface Options {
  quick: boolean;
  json: boolean;
  repeats: number;
  streamBytes: number;
  connects: number;
  roundTrips: number;
  idleChannels: number;
  eofCapMs: number;
  setups?: string[];
  groups: Set<Group>;
  bufferSize?: number;
  peerNodeArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const flags = new Map<string, string>();
  const bool = new Set<string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    if (arg === '--quick' || arg === '--json') bool.add(arg);
    else if (arg.startsWith('--') && i + 1 < argv.length) flags.set(arg, argv[++i]!);
    else throw new Error(`unknown argument ${arg}`);
  }
  const quick = bool.has('--quick');
  const int = (name: string, fallback: number): number => {
    const value = flags.get(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number`);
    return n;
  };
  const list = (name: string): string[] | undefined => flags.get(name)?.split(',').map((s) => s.trim()).filter(Boolean);
  const groups = list('--figures') ?? [...GROUPS];
  for (const g of groups) if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`unknown figure group ${g}`);
  return {
    quick,
    json: bool.has('--json'),
    repeats: int('--repeat', quick ? 1 : 3),
    streamBytes: Math.round(int('--size', quick ? 64 : 512) * MiB),
    connects: quick ? 100 : 500,
    roundTrips: quick ? 200 : 1000,
    idleChannels: int('--idle-channels', quick ? 1000 : 2000),
    // Full runs wait long enough to see Go's ~5 s; --quick only needs to tell "prompt" from "late".
    eofCapMs: quick ? 1500 : 6000,
    setups: list('--setups'),
    groups: new Set(groups as Group[]),
    bufferSize: flags.has('--buffer-size') ? int('--buffer-size', 0) : undefined,
    peerNodeArgs: flags.get('--peer-node-args')?.split(' ').filter(Boolean) ?? [],
  };
}

const runStarted = performance.now();
/** 1-minute load average: other work on the machine skews every figure. */
function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

function progress(text: string): void {
  process.stderr.write(`[${((performance.now() - runStarted) / 1000).toFixed(1).padStart(5)} s] ${text}\n`);
}

/** What one setup accumulates over the repetitions besides its samples: CPU charged to bytes moved. */
interface Accounting {
  proxyCpuS: number;
  loadgenCpuS: number;
  bytes: number;
}

/** Runs every selected figure of one setup once (errors are recorded, not fatal). */
async function measureRep(
  opts: Options,
  rep: number,
  setup: RunningSetup,
  targets: Targets,
  result: SetupResult,
  acct: Accounting,
): Promise<void> {
  const add = (key: FigureKey, value: number): void => {
    (result.samples[key] ??= []).push(value);
    progress(`  ${result.name} ${FIGURES[key].label}: ${value.toFixed(FIGURES[key].digits)} ${FIGURES[key].unit}`);
  };
  const attempt = async (what: string, body: () => Promise<void>): Promise<void> => {
    try {
      await body();
    } catch (err) {
      result.errors.push(`${what}: ${(err as Error).message.split('\n')[0]}`);
      progress(`  ${result.name} ${what} failed: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  const port = setup.socksPort;
  const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
  /** Times one transfer and charges the proxies' CPU to its bytes. */
  const transfer = async (key: FigureKey, run: () => Promise<measure.Transfer>): Promise<void> => {
    const cpuBefore = setup.pids.reduce((s, pid) => s + cpuSeconds(pid), 0);
    const ownBefore = process.cpuUsage();
    const { ms } = await run();
    acct.proxyCpuS += setup.pids.reduce((s, pid) => s + cpuSeconds(pid), 0) - cpuBefore;
    const own = process.cpuUsage(ownBefore);
    acct.loadgenCpuS += (own.user + own.system) / 1e6;
    acct.bytes += opts.streamBytes;
    add(key, mbps(opts.streamBytes, ms));
  };

  if (opts.groups.has('latency')) {
    await attempt('connect latency', async () => {
      const samples = await measure.connectLatencies(port, targets, opts.connects);
      add('connectP50', percentile(samples, 50));
      add('connectP99', percentile(samples, 99));
    });
  }
  if (opts.groups.has('rtt')) {
    await attempt('round trip', async () => {
      const samples = await measure.roundTrips(port, targets, opts.roundTrips);
      add('rttP50', percentile(samples, 50));
      add('rttP99', percentile(samples, 99));
    });
  }
  // Memory before throughput: large transfers leave buffers behind that would blur the delta.
  if (opts.groups.has('memory')) {
    await attempt('idle memory', async () => {
      // The echo target runs in its own process so that thousands of channels fit in this
      // process's descriptor limit; the figure counts only the proxy processes anyway.
      const echo = await startEchoPeer(opts);
      try {
        const idleTargets = { ...targets, echoPort: echo.port, openConnections: () => 0 };
        add('idleKiB', await measure.idleChannelMemory(port, idleTargets, setup.pids, opts.idleChannels));
      } finally {
        await echo.stop();
      }
    });
  }
  if (opts.groups.has('throughput')) {
    const bytes = opts.streamBytes;
    if (rep === 0) {
      // Warm-up (not counted): JIT, socket buffers and WebSocket frames reach their steady state.
      await attempt('warm-up', async () => {
        await measure.download(port, targets, 16 * MiB);
        await measure.upload(port, targets, 16 * MiB);
      });
    }
    await attempt('download', () => transfer('down1', () => measure.download(port, targets, bytes)));
    await attempt('upload', () => transfer('up1', () => measure.upload(port, targets, bytes)));
    await attempt('download x16', () => transfer('down16', () => measure.parallel('download', 16, port, targets, bytes)));
    await attempt('upload x16', () => transfer('up16', () => measure.parallel('upload', 16, port, targets, bytes)));
  }
  if (opts.groups.has('eof')) {
    await attempt('eof delay', async () => add('eofMs', await measure.eofDelay(port, targets, opts.eofCapMs)));
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const startedAt = performance.now();
  // Hard bound on the whole run: a wedged proxy must not hang CI.
  const budgetMs = opts.quick ? 5 * 60_000 : 60 * 60_000;
  const watchdog = setTimeout(() => {
    progress(`benchmark exceeded ${budgetMs / 60_000} min, aborting`);
    killAllChildren();
    process.exit(1);
  }, budgetMs);
  watchdog.unref();

  const goBin = process.env.LINKSOCKS_BIN || undefined;
  const setups = allSetups({ goBin, bufferSize: opts.bufferSize, peerNodeArgs: opts.peerNodeArgs }).filter(
    (s) => opts.setups === undefined || opts.setups.includes(s.name),
  );
  if (setups.length === 0) throw new Error('no setup selected');
  if (!goBin) progress('LINKSOCKS_BIN not set: Go and mixed setups skipped');

  const targets = await startTargets();
  const results: SetupResult[] = [];
  const started: Array<{ running: RunningSetup; result: SetupResult; acct: Accounting }> = [];
  try {
    // Every setup is started first and stays up (idle) while the others are measured, so that the
    // repetitions can alternate between setups: on a shared machine, load that comes and goes then
    // hits every setup alike instead of whichever happened to run at that moment.
    for (const setup of setups) {
      const result: SetupResult = { name: setup.name, goReference: setup.goReference, samples: {}, errors: [] };
      results.push(result);
      progress(`${setup.name}: starting`);
      try {
        started.push({ running: await setup.start(targets), result, acct: { proxyCpuS: 0, loadgenCpuS: 0, bytes: 0 } });
      } catch (err) {
        result.errors.push(`start: ${(err as Error).message.split('\n')[0]}`);
        progress(`${setup.name}: failed to start: ${(err as Error).message}`);
      }
    }
    for (let rep = 0; rep < opts.repeats; rep += 1) {
      // Odd repetitions run the setups in reverse order, so none always goes first or last.
      const order = rep % 2 === 0 ? started : [...started].reverse();
      for (const { running, result, acct } of order) {
        progress(`${result.name}: repetition ${rep + 1} of ${opts.repeats} (load ${loadAverage().toFixed(1)})`);
        await measureRep(opts, rep, running, targets, result, acct);
      }
    }
    for (const { result, acct } of started) {
      if (acct.bytes > 0) {
        result.samples.cpuSPerGB = [acct.proxyCpuS / (acct.bytes / 1e9)];
        result.samples.loadgenSPerGB = [acct.loadgenCpuS / (acct.bytes / 1e9)];
      }
    }
  } finally {
    await Promise.all(started.map(({ running }) => running.stop()));
    await targets.close();
  }

  const info: RunInfo = {
    mode: opts.quick ? 'quick' : 'full',
    repeats: opts.repeats,
    streamBytes: opts.streamBytes,
    connects: opts.connects,
    roundTrips: opts.roundTrips,
    idleChannels: opts.idleChannels,
    eofCapMs: opts.eofCapMs,
    bufferSize: opts.bufferSize,
    durationS: (performance.now() - startedAt) / 1000,
    loadAverage: loadAverage(),
  };
  process.stdout.write(`${opts.json ? jsonReport(info, results) : markdownReport(info, results)}\n`);
  clearTimeout(watchdog);
  const failed = results.some((r) => r.errors.some((e) => e.startsWith('start:')));
  process.exitCode = failed ? 1 : 0;
}

main()
  .catch((err: unknown) => {
    progress(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => killAllChildren());
