/** Turns the collected samples into a markdown report or JSON. */
import { availableParallelism } from 'node:os';
import { FIGURE_ORDER, FIGURES, TARGET_CHECKS, median, type FigureKey } from './figures.js';

export interface SetupResult {
  name: string;
  goReference?: string;
  /** Per figure, one value per repetition. */
  samples: Partial<Record<FigureKey, number[]>>;
  errors: string[];
}

export interface RunInfo {
  mode: 'quick' | 'full';
  repeats: number;
  streamBytes: number;
  connects: number;
  roundTrips: number;
  idleChannels: number;
  /** EOF delays are capped here; a capped median prints as ≥cap. */
  eofCapMs: number;
  bufferSize?: number;
  durationS: number;
  /** 1-minute load average at the end of the run (the machine has 2 cores). */
  loadAverage: number;
}

function medians(result: SetupResult): Partial<Record<FigureKey, number>> {
  const out: Partial<Record<FigureKey, number>> = {};
  for (const key of FIGURE_ORDER) {
    const values = result.samples[key];
    if (values && values.length > 0) out[key] = median(values);
  }
  return out;
}

function format(key: FigureKey, value: number | undefined, info: RunInfo): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  if (key === 'eofMs' && value >= info.eofCapMs) return `≥${info.eofCapMs}`;
  return value.toFixed(FIGURES[key].digits);
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0 || Number.isNaN(a) || Number.isNaN(b)) return '—';
  const r = a / b;
  return r < 0.01 ? '<0.01×' : r >= 100 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`;
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function markdownReport(info: RunInfo, results: SetupResult[]): string {
  const byName = new Map(results.map((r) => [r.name, r]));
  const med = new Map(results.map((r) => [r.name, medians(r)]));
  const raw = med.get('raw') ?? {};
  const hasRaw = byName.has('raw');
  // Rows nobody measured (figure groups left out) are dropped.
  const keys = FIGURE_ORDER.filter((key) => results.some((r) => med.get(r.name)?.[key] !== undefined));
  const lines: string[] = [];
  lines.push(
    `Mode ${info.mode}: median of ${info.repeats}; ${info.streamBytes / 2 ** 20} MiB per transfer, ` +
      `${info.connects} CONNECTs, ${info.roundTrips} round trips, ${info.idleChannels} idle channels` +
      `${info.bufferSize === undefined ? '' : `, bufferSize ${info.bufferSize}`}; ${info.durationS.toFixed(0)} s; ` +
      `load average ${info.loadAverage.toFixed(1)} on ${availableParallelism()} CPUs.`,
    '',
  );
  lines.push(row(['figure', 'unit', ...results.map((r) => r.name)]));
  lines.push(row(['---', '---', ...results.map(() => '---:')]));
  for (const key of keys) {
    lines.push(row([FIGURES[key].label, FIGURES[key].unit, ...results.map((r) => format(key, med.get(r.name)?.[key], info))]));
  }

  const compared = results.filter((r) => r.name !== 'raw');
  if (compared.length > 0 && (hasRaw || compared.some((r) => r.goReference && byName.has(r.goReference)))) {
    lines.push('', 'Ratios (setup ÷ reference; throughput: higher is better, the rest: lower is better)', '');
    const headers: string[] = [];
    for (const r of compared) {
      if (hasRaw) headers.push(`${r.name} ÷ raw`);
      if (r.goReference && byName.has(r.goReference)) headers.push(`${r.name} ÷ ${r.goReference}`);
    }
    lines.push(row(['figure', ...headers]));
    lines.push(row(['---', ...headers.map(() => '---:')]));
    for (const key of keys) {
      const cells: string[] = [];
      for (const r of compared) {
        const own = med.get(r.name)?.[key];
        if (hasRaw) cells.push(ratio(own, raw[key]));
        if (r.goReference && byName.has(r.goReference)) cells.push(ratio(own, med.get(r.goReference)?.[key]));
      }
      lines.push(row([FIGURES[key].label, ...cells]));
    }
  }

  const tsSetups = results.filter((r) => r.name.startsWith('ts-'));
  if (tsSetups.length > 0 && hasRaw) {
    lines.push('', 'Targets', '');
    lines.push(row(['target', ...tsSetups.map((r) => r.name)]));
    lines.push(row(['---', ...tsSetups.map(() => ':---:')]));
    for (const check of TARGET_CHECKS) {
      const cells = tsSetups.map((r) => {
        const go = r.goReference ? med.get(r.goReference) : undefined;
        const verdict = check.pass(med.get(r.name) ?? {}, raw, go);
        return verdict === undefined ? '—' : verdict ? 'pass' : 'FAIL';
      });
      lines.push(row([check.label, ...cells]));
    }
  }

  const errors = results.flatMap((r) => r.errors.map((e) => `- ${r.name}: ${e}`));
  if (errors.length > 0) lines.push('', 'Errors', '', ...errors);
  return lines.join('\n');
}

export function jsonReport(info: RunInfo, results: SetupResult[]): string {
  return JSON.stringify(
    {
      ...info,
      setups: results.map((r) => ({
        name: r.name,
        goReference: r.goReference,
        median: medians(r),
        samples: r.samples,
        errors: r.errors,
      })),
    },
    null,
    2,
  );
}
