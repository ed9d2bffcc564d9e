/**
 * `sofar plot RUN_DIR|metrics.jsonl … [--spec SPEC]… [-o FILE.svg|FILE.png]`: accuracy and loss (test
 * and training) against epochs for each run, and final test accuracy against the model's OPs, as one SVG (or that SVG
 * rasterised by resvg, at twice its size, for PNG).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { readModelMetadata } from '../../backends/onnx/proto.js';
import { summarize } from '../../src/cost.js';
import { plotParetoSvg, plotRunsSvg, type RunSeries } from '../../src/plot.js';
import { pointLabel } from '../../src/sweep.js';
import { loadSweepPoints } from '../sweep-results.js';
import { METRICS_FILE, parseMetrics } from '../../src/train/metrics.js';
import { loadGraph, UsageError, userFailure, writeFileAtomic } from '../common.js';

interface PlotFlags {
  pareto?: boolean;
  spec?: string[];
  out?: string;
  title?: string;
}

/** A run's metrics file and its label: `runs/x` → runs/x/metrics.jsonl, "x"; `a/x.metrics.jsonl` → itself, "x". */
function locate(run: string): { file: string; label: string; dir: string | null } {
  if (existsSync(run) && statSync(run).isDirectory()) return { file: join(run, METRICS_FILE), label: basename(run), dir: run };
  const label = basename(run).replace(/\.jsonl$/, '').replace(/\.?metrics$/, '') || basename(dirname(run));
  return { file: run, label, dir: basename(run) === METRICS_FILE ? dirname(run) : null };
}

/** OPs from the run's model.onnx (`sofar.summary`, written by `sofar train` and `sofar build`). */
function opsOfRunModel(dir: string | null): number | undefined {
  if (!dir || !existsSync(join(dir, 'model.onnx'))) return undefined;
  const summary = readModelMetadata(readFileSync(join(dir, 'model.onnx')))['sofar.summary'];
  if (!summary) return undefined;
  const ops = (JSON.parse(summary) as { ops?: unknown }).ops;
  return typeof ops === 'number' ? ops : undefined;
}

export function loadRuns(runs: readonly string[], specs: readonly string[] = []): RunSeries[] {
  if (specs.length > runs.length) throw new UsageError(`${specs.length} --spec for ${runs.length} runs`, 'give one --spec per run, in the order of the runs');
  return runs.map((run, i) => {
    const { file, label, dir } = locate(run);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw userFailure(`no metrics at ${file}`, `give a run folder (sofar train --out DIR) or a metrics .jsonl file`);
    }
    const byEpoch = new Map<number, RunSeries['points'][number]>();
    for (const m of parseMetrics(text, file)) byEpoch.set(m.epoch, { epoch: m.epoch, testAccuracy: m.testAccuracy, testLoss: m.testLoss, trainAccuracy: m.trainAccuracy, trainLoss: m.trainLoss });
    const points = [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
    if (!points.length) throw userFailure(`${file} has no epochs yet`, 'plot it after the first epoch ends');
    const ops = specs[i] ? summarize(loadGraph(specs[i]).graph).ops : opsOfRunModel(dir);
    return { label, points, ...(ops !== undefined ? { ops } : {}) };
  });
}

export function register(program: Command): void {
  program
    .command('plot')
    .description('accuracy and loss against epochs (test and training) for one or more runs, and accuracy against OPs, as SVG')
    .argument('<runs...>', 'run folders (sofar train --out DIR) or metrics .jsonl files')
    .option('--spec <spec>', "the spec of each run, in order, for its OPs (default: the run's model.onnx)", (v: string, all: string[] = []) => [...all, v])
    .option('-o, --out <file>', 'write to FILE.svg or FILE.png instead of standard output (SVG)')
    .option('--title <text>', 'the title of the SVG document')
    .option('--pareto', 'for a sweep folder (sofar sweep --out DIR): mean test accuracy ± std over seeds against OPs and latency, a line per family')
    .action(async (runs: string[], flags: PlotFlags) => {
      if (flags.out && !/\.(svg|png)$/i.test(flags.out)) throw new UsageError(`cannot write '${flags.out}': sofar plot writes SVG or PNG`, 'name the file FILE.svg or FILE.png');
      let svg: string;
      if (flags.pareto) {
        if (runs.length !== 1) throw new UsageError('sofar plot --pareto takes one sweep folder', 'sofar plot SWEEP_DIR --pareto');
        const points = loadSweepPoints(runs[0]).map((p) => ({ family: p.family, label: pointLabel(p), ops: p.ops, latencyMs: p.latencyMs?.mean ?? null, accuracy: p.accuracy }));
        svg = plotParetoSvg(points, flags.title ? { title: flags.title } : {});
      } else {
        const series = loadRuns(runs, flags.spec);
        const missing = series.filter((s) => s.ops === undefined).map((s) => s.label);
        if (missing.length) process.stderr.write(`note: no OPs for ${missing.join(', ')} (no model.onnx in the run; give --spec per run): left out of the accuracy-against-OPs panel\n`);
        svg = plotRunsSvg(series, flags.title ? { title: flags.title } : {});
      }
      if (flags.out && /\.png$/i.test(flags.out)) {
        writeFileAtomic(flags.out, await rasterise(svg));
        process.stderr.write(`wrote ${flags.out}\n`);
      } else if (flags.out) {
        writeFileAtomic(flags.out, svg);
        process.stderr.write(`wrote ${flags.out}\n`);
      } else process.stdout.write(svg);
    });
}

/** The SVG as PNG at twice its size (resvg, loaded only for this). */
async function rasterise(svg: string): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white' }).render().asPng();
}
