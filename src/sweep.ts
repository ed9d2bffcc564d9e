/**
 * A sweep as plain data: the grid of training runs (specs × `--set` values or fitted budgets × seeds),
 * each run's folder name, and the rows of the results table read back from finished run folders.
 * Running the jobs is the CLI's business (cli/commands/sweep.ts); everything here is a function of data.
 */
import type { EpochMetrics } from './train/metrics.js';

/** What each run folder records of its job (`sweep-job.json`), so results can be gathered wherever it ran. */
export interface SweepJob {
  /** The run folder's name inside the sweep's `runs/`, unique in the sweep. */
  id: string;
  spec: string;
  model?: string;
  /** Model parameters for `--set`, as written (`width=37`); fitted values included. */
  set: Record<string, string>;
  seed: number;
  /** The budget this job's fitted parameter meets, when the sweep matches a cost. */
  budget?: { metric: 'ops'; target: number; param: string };
  /** The spec's costs with these parameters (Larq's counting; OPs as Bi-Real Net). */
  cost: { params: number; memoryBytes: number; ops: number };
}

export const JOB_FILE = 'sweep-job.json';
export const RESULTS_JSONL = 'results.jsonl';
export const RESULTS_CSV = 'results.csv';

/** One axis of the grid: a model parameter and its values, as `--set NAME=V1,V2` gives them. */
export interface GridAxis {
  name: string;
  values: string[];
}

/** `width=16,32,48` → { name: 'width', values: ['16', '32', '48'] }; null when malformed. Lists in brackets stay whole. */
export function parseAxis(text: string): GridAxis | null {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(text.trim());
  if (!m) return null;
  const values: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of m[2]) {
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      values.push(current.trim());
      current = '';
    } else current += ch;
  }
  values.push(current.trim());
  return values.every((v) => v !== '') ? { name: m[1], values } : null;
}

/** Every combination of the axes' values, in order (the last axis varies fastest); one empty combination without axes. */
export function combinations(axes: readonly GridAxis[]): Record<string, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const axis of axes) out = out.flatMap((combo) => axis.values.map((v) => ({ ...combo, [axis.name]: v })));
  return out;
}

/** A folder name from the spec's file name, its settings and its seed: `rf-c3-small__width=32__seed1`. */
export function jobId(spec: string, set: Readonly<Record<string, string>>, seed: number, model?: string): string {
  const base = spec.replace(/^.*[\\/]/, '').replace(/\.sofar$/i, '');
  const parts = [base, ...(model ? [model] : []), ...Object.entries(set).map(([k, v]) => `${k}=${v}`), `seed${seed}`];
  return parts.join('__').replace(/[^A-Za-z0-9_.=,-]+/g, '-');
}

/** The row of the results table for one job, from its folder's metrics (absent while it has not run). */
export interface SweepResult extends SweepJob {
  status: 'done' | 'failed' | 'incomplete' | 'pending';
  epochs: number;
  testAccuracy: number | null;
  testLoss: number | null;
  /** Per completed epoch, in order. */
  history: Pick<EpochMetrics, 'epoch' | 'trainLoss' | 'trainAccuracy' | 'testLoss' | 'testAccuracy'>[];
  /** Training wall time, validation included, summed over epochs. */
  seconds: number;
  /** The binary runtime's p50 latency of the trained model, batch 1, when measured. */
  latencyMs: number | null;
  error?: string;
}

export function resultOf(
  job: SweepJob,
  metrics: readonly EpochMetrics[],
  extra: { epochsWanted: number; latencyMs?: number | null; failed?: string },
): SweepResult {
  const last = metrics[metrics.length - 1];
  const done = last !== undefined && last.epoch >= extra.epochsWanted;
  return {
    ...job,
    status: extra.failed !== undefined ? 'failed' : done ? 'done' : metrics.length ? 'incomplete' : 'pending',
    epochs: last?.epoch ?? 0,
    testAccuracy: last?.testAccuracy ?? null,
    testLoss: last?.testLoss ?? null,
    history: metrics.map(({ epoch, trainLoss, trainAccuracy, testLoss, testAccuracy }) => ({ epoch, trainLoss, trainAccuracy, testLoss, testAccuracy })),
    seconds: metrics.reduce((sum, m) => sum + m.seconds, 0),
    latencyMs: extra.latencyMs ?? null,
    ...(extra.failed !== undefined ? { error: extra.failed } : {}),
  };
}

const CSV_COLUMNS = ['id', 'status', 'spec', 'model', 'set', 'seed', 'budget_ops', 'params', 'memory_bytes', 'ops', 'epochs', 'test_accuracy', 'test_loss', 'seconds', 'latency_ms', 'error'] as const;

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The results as CSV: one row per run with its final figures, then one column per epoch's test accuracy
 * (`test_accuracy_e1`, …) up to the longest run.
 */
export function resultsCsv(results: readonly SweepResult[]): string {
  const epochs = Math.max(0, ...results.map((r) => r.history.length));
  const epochColumns = Array.from({ length: epochs }, (_, i) => [`test_accuracy_e${i + 1}`, `test_loss_e${i + 1}`]).flat();
  const lines = [[...CSV_COLUMNS, ...epochColumns].join(',')];
  for (const r of results) {
    const set = Object.entries(r.set).map(([k, v]) => `${k}=${v}`).join(' ');
    const cells = [r.id, r.status, r.spec, r.model ?? '', set, r.seed, r.budget?.target ?? '', r.cost.params, r.cost.memoryBytes, r.cost.ops, r.epochs, r.testAccuracy, r.testLoss, r.seconds.toFixed(1), r.latencyMs, r.error ?? ''];
    const perEpoch = Array.from({ length: epochs }, (_, i) => [r.history[i]?.testAccuracy, r.history[i]?.testLoss]).flat();
    lines.push([...cells, ...perEpoch].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

export function resultsJsonl(results: readonly SweepResult[]): string {
  return results.map((r) => JSON.stringify(r) + '\n').join('');
}

/** Mean and sample standard deviation (0 for one value). */
export function meanStd(values: readonly number[]): { mean: number; std: number; n: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n };
}

/** Runs that differ only by seed, grouped: one point of a study (a family at one setting). */
export interface SweepPoint {
  family: string;
  set: Record<string, string>;
  budget?: number;
  ops: number;
  params: number;
  accuracy: { mean: number; std: number; n: number };
  latencyMs: { mean: number; std: number; n: number } | null;
}

/** The finished runs grouped by family (the spec's model) and settings, with the mean and spread over seeds. */
export function studyPoints(results: readonly SweepResult[]): SweepPoint[] {
  const groups = new Map<string, SweepResult[]>();
  for (const r of results) {
    if (r.status !== 'done' || r.testAccuracy === null) continue;
    const key = JSON.stringify([r.spec, r.model ?? '', r.set, r.budget?.target ?? null]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((runs) => {
    const first = runs[0];
    const latencies = runs.map((r) => r.latencyMs).filter((v): v is number => v !== null);
    return {
      family: first.spec.replace(/^.*[\\/]/, '').replace(/\.sofar$/i, ''),
      set: first.set,
      ...(first.budget ? { budget: first.budget.target } : {}),
      ops: first.cost.ops,
      params: first.cost.params,
      accuracy: meanStd(runs.map((r) => r.testAccuracy!)),
      latencyMs: latencies.length ? meanStd(latencies) : null,
    };
  });
}

/** The rows of a `results.jsonl`. */
export function parseResults(text: string): SweepResult[] {
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as SweepResult);
}

/** A point's setting as its label: `width=37` (the seeds are what it averages over). */
export const pointLabel = (p: Pick<SweepPoint, 'set'>): string => Object.entries(p.set).map(([k, v]) => `${k}=${v}`).join(' ') || 'defaults';
