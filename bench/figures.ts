/** The figures the benchmark reports, with units and which way is better. */
export type FigureKey =
  | 'down1'
  | 'up1'
  | 'down16'
  | 'up16'
  | 'eofMs'
  | 'connectP50'
  | 'connectP99'
  | 'rttP50'
  | 'rttP99'
  | 'idleKiB'
  | 'cpuSPerGB'
  | 'loadgenSPerGB';

export interface FigureInfo {
  label: string;
  unit: string;
  higherIsBetter: boolean;
  digits: number;
}

export const FIGURES: Record<FigureKey, FigureInfo> = {
  down1: { label: 'download, 1 stream', unit: 'MB/s', higherIsBetter: true, digits: 0 },
  up1: { label: 'upload, 1 stream', unit: 'MB/s', higherIsBetter: true, digits: 0 },
  down16: { label: 'download, 16 streams', unit: 'MB/s', higherIsBetter: true, digits: 0 },
  up16: { label: 'upload, 16 streams', unit: 'MB/s', higherIsBetter: true, digits: 0 },
  eofMs: { label: 'end-of-stream delay', unit: 'ms', higherIsBetter: false, digits: 1 },
  connectP50: { label: 'CONNECT→first byte p50', unit: 'ms', higherIsBetter: false, digits: 2 },
  connectP99: { label: 'CONNECT→first byte p99', unit: 'ms', higherIsBetter: false, digits: 2 },
  rttP50: { label: '64 B round trip p50', unit: 'ms', higherIsBetter: false, digits: 3 },
  rttP99: { label: '64 B round trip p99', unit: 'ms', higherIsBetter: false, digits: 3 },
  idleKiB: { label: 'memory per idle channel', unit: 'KiB', higherIsBetter: false, digits: 1 },
  cpuSPerGB: { label: 'proxy CPU per GB', unit: 's/GB', higherIsBetter: false, digits: 2 },
  // The benchmark process itself (targets + SOCKS clients): when it nears a full core per
  // second of transfer, throughput figures are bounded by the load generator, not the proxy.
  loadgenSPerGB: { label: 'load generator CPU per GB', unit: 's/GB', higherIsBetter: false, digits: 2 },
};

export const FIGURE_ORDER = Object.keys(FIGURES) as FigureKey[];

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Issue targets for the TS setups, as checks on the medians (`raw` is the baseline's figures). */
export interface TargetCheck {
  label: string;
  pass(own: Partial<Record<FigureKey, number>>, raw: Partial<Record<FigureKey, number>>, go: Partial<Record<FigureKey, number>> | undefined): boolean | undefined;
}

const ratioAtLeast = (key: FigureKey, factor: number): TargetCheck['pass'] => (own, raw) =>
  own[key] === undefined || raw[key] === undefined ? undefined : own[key]! >= factor * raw[key]!;
const ratioAtMost = (key: FigureKey, factor: number): TargetCheck['pass'] => (own, raw) =>
  own[key] === undefined || raw[key] === undefined ? undefined : own[key]! <= factor * raw[key]!;

export const TARGET_CHECKS: TargetCheck[] = [
  { label: 'download 1 stream ≥ 50% raw', pass: ratioAtLeast('down1', 0.5) },
  { label: 'upload 1 stream ≥ 50% raw', pass: ratioAtLeast('up1', 0.5) },
  { label: 'download 16 streams ≥ 50% raw', pass: ratioAtLeast('down16', 0.5) },
  { label: 'upload 16 streams ≥ 50% raw', pass: ratioAtLeast('up16', 0.5) },
  { label: 'CONNECT p50 ≤ 1.2× raw', pass: ratioAtMost('connectP50', 1.2) },
  { label: 'RTT p50 ≤ 2× raw', pass: ratioAtMost('rttP50', 2) },
  { label: 'EOF delay ≤ 5 ms', pass: (own) => (own.eofMs === undefined ? undefined : own.eofMs <= 5) },
  { label: 'idle channel ≤ 32 KiB', pass: (own) => (own.idleKiB === undefined ? undefined : own.idleKiB <= 32) },
  {
    label: 'CPU s/GB below Go',
    pass: (own, _raw, go) => (own.cpuSPerGB === undefined || go?.cpuSPerGB === undefined ? undefined : own.cpuSPerGB < go.cpuSPerGB),
  },
];
