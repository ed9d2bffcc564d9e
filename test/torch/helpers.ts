/**
 * Running the generated PyTorch code from the tests: Debian's python3-torch under /usr/bin/python3
 * (the `python3` on PATH may be another interpreter). `.ci/run` installs it; elsewhere the tests skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTorchProject } from '../../backends/torch/index.js';
import { decodeSafetensors, toFloat32 } from '../../src/checkpoint/safetensors.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import type { StepNoise } from '../../src/train/engine.js';

export const TORCH_PYTHON = '/usr/bin/python3';
const HARNESS = new URL('./harness.py', import.meta.url).pathname;

let availability: string | null | undefined;

/** Why the torch tests cannot run here, or null when they can. */
export function torchMissing(): string | null {
  if (availability === undefined) {
    const r = spawnSync(TORCH_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
    availability = r.status === 0 ? null : `PyTorch is missing: ${TORCH_PYTHON} cannot import torch (apt-get install python3-torch)`;
  }
  return availability;
}

export const scratch = (label: string) => mkdtempSync(join(tmpdir(), `sofar-torch-${label}-`));

/** Writes the project of `graph` with `weights` as its init.safetensors into a new folder. */
export function project(graph: Graph, weights: WeightMap, label: string): string {
  const dir = scratch(label);
  writeTorchProject(graph, weights, dir, { source: `${graph.name}.sofar` });
  return dir;
}

/** Runs a command to its end; rejects with its output when it fails. */
export function run(command: string, args: string[], options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a timeout ends torchrun's workers too.
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code}):\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`));
    });
    child.stdin.end(options.input ?? '');
  });
}

export interface Job {
  kind: 'forward' | 'gradients' | 'fd' | 'step';
  dir: string;
  input: string;
  n: number;
  output: string;
  labels?: number[];
  joins?: Record<string, number[]>;
  dropout?: Record<string, number[]>;
  /** `step`: train.py's options, the checkpoint it starts from, the learning rate. */
  args?: string[];
  state?: string;
  lr?: number;
}

/** A run of train.py's main() with `args`, interrupted (as by Ctrl-C) right after its `stopAfterSaves`-th checkpoint when given. */
export interface TrainJob {
  kind: 'train';
  dir: string;
  args: string[];
  stopAfterSaves?: number;
}

/** A quantizer of the runtime (a function or class of model.py in `dir`) on the given tensors, in float64. */
export interface QuantizerJob {
  kind: 'quantizer';
  dir: string;
  name: string;
  use: 'activation' | 'weight';
  args: Record<string, number>;
  tensors: Record<string, number[]>;
  /** A kernel's shape: `[O, I, 3, 3]` (a conv) or `[in, out]` (a dense layer). */
  shape?: number[];
}

export interface JobResult {
  seconds: number;
  loss?: number;
  flipRatio?: number | null;
  /** `quantizer`: the named outputs. */
  [output: string]: number | number[] | null | undefined;
}

/** A training job's batch: the images written to `dir/x.bin`, the labels and the step's masks. */
export function batchJob(dir: string, x: Float32Array, y: Int32Array, noise: StepNoise): Pick<Job, 'input' | 'n' | 'labels' | 'joins' | 'dropout'> {
  return {
    input: writeFloats(join(dir, 'x.bin'), x),
    n: y.length,
    labels: [...y],
    joins: Object.fromEntries([...noise.joinMasks].map(([k, v]) => [k, [...v]])),
    dropout: Object.fromEntries([...noise.dropoutMasks].map(([k, v]) => [k, [...v]])),
  };
}

/** Runs the jobs in one Python process (torch is imported once). */
export async function runJobs(jobs: (Job | QuantizerJob | TrainJob)[], threads = 2): Promise<JobResult[]> {
  const { stdout } = await run(TORCH_PYTHON, [HARNESS, String(threads)], { input: JSON.stringify(jobs), timeoutMs: 300_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

export function writeFloats(path: string, values: Float32Array): string {
  writeFileSync(path, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return path;
}

export function readFloats(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function readTensors(path: string): WeightMap {
  return readCheckpointFile(path).tensors;
}

/** A safetensors file's tensors (as float32) and metadata. */
export function readCheckpointFile(path: string): { tensors: WeightMap; metadata: Record<string, string> } {
  const file = decodeSafetensors(readFileSync(path));
  return { tensors: new Map([...file.tensors].map(([name, t]) => [name, toFloat32(name, t)])), metadata: file.metadata };
}

/**
 * `torchrun --standalone --nproc_per_node N train.py ARGS` (gloo on the loopback). `--redirects 2
 * --tee 2` works around torch 1.13's launcher on Python 3.11, whose default of "0" it cannot parse.
 */
export function torchrun(dir: string, processes: number, args: string[], timeoutMs = 240_000) {
  const launcher = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', String(processes), '--redirects', '2', '--tee', '2'];
  return run(TORCH_PYTHON, [...launcher, join(dir, 'train.py'), ...args], { cwd: dir, timeoutMs, env: { ...process.env, OMP_NUM_THREADS: '1' } });
}
