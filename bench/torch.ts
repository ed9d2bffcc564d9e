/**
 * Training throughput of the PyTorch backend's train.py on this machine's CPUs: fashion/bireal-small,
 * Fashion-MNIST, global batch 128, one process (all cores) and two processes under torchrun (gloo on
 * the loopback, one thread each, batch 64 per process, batch statistics over the global batch).
 * samples/s is train.py's own figure for the epoch (validation excluded). Writes
 * bench/results/torch.json. Not a test; needs /usr/bin/python3 with torch and dataset-fashion-mnist.
 *
 *   npm run build && node dist/bench/torch.js [--limit N]
 *
 * The machine may be shared: the file records the load average before and after.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTorchProject } from '../backends/torch/index.js';
import { compileFile } from '../src/compile.js';
import { initWeights } from '../src/weights/init.js';
import { isMain, machine, writeReport } from './common.js';

const PYTHON = '/usr/bin/python3';
const SPEC = 'specs/fashion/bireal-small.sofar';
const BATCH = 128;

interface Figure {
  processes: number;
  threadsPerProcess: number;
  batchPerProcess: number;
  samplesPerSecond: number;
  command: string;
}

function train(dir: string, processes: number, limit: number): Figure {
  const out = join(dir, `run-${processes}`);
  const threads = Math.max(1, Math.floor(cpus().length / processes));
  const batch = BATCH / processes;
  const args = ['--data', 'fashion-mnist', '--limit', String(limit), '--epochs', '1', '--batch', String(batch), '--threads', String(threads), '--out', out];
  // --redirects 2 --tee 2: torch 1.13's launcher cannot parse its own default under Python 3.11.
  const launcher = processes === 1 ? [] : ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', String(processes), '--redirects', '2', '--tee', '2'];
  const r = spawnSync(PYTHON, [...launcher, join(dir, 'train.py'), ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (r.status !== 0) throw new Error(`train.py failed:\n${r.stderr}`);
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as { samplesPerSecond: number };
  const command = `${processes === 1 ? 'python3' : `torchrun --standalone --nproc_per_node ${processes}`} train.py ${args.slice(0, -2).join(' ')}`;
  return { processes, threadsPerProcess: threads, batchPerProcess: batch, samplesPerSecond: Math.round(metrics.samplesPerSecond * 10) / 10, command };
}

export async function run(options: { limit?: number; out?: string } = {}): Promise<object> {
  const limit = options.limit ?? 3840;
  const { graph } = compileFile(SPEC);
  const dir = mkdtempSync(join(tmpdir(), 'sofar-bench-torch-'));
  try {
    writeTorchProject(graph!, initWeights(graph!, 0), dir, { source: SPEC });
    const start = loadavg();
    const results = [train(dir, 1, limit), train(dir, 2, limit)];
    const torch = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim();
    const report = {
      bench: 'torch',
      date: new Date().toISOString(),
      machine: machine(start),
      torch,
      net: 'fashion/bireal-small',
      globalBatch: BATCH,
      trainSamples: limit,
      results,
    };
    const path = options.out ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', 'torch.json');
    writeReport(path, report);
    for (const r of results) process.stderr.write(`${r.processes} process(es): ${r.samplesPerSecond} samples/s\n`);
    return report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const at = process.argv.indexOf('--limit');
  await run(at > 0 ? { limit: Number(process.argv[at + 1]) } : {});
}
