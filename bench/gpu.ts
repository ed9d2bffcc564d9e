/**
 * Training throughput per engine and device: the three Fashion-MNIST nets and Bi-Real ResNet18 on
 * 224×224 synthetic batches, each engine (ORT, tfjs) on the CPU and on whatever WebGPU adapter Dawn
 * finds. A few steps each (after one warm-up step, which compiles the shaders): enough to rank, not to
 * publish. Writes bench/results/gpu.json with the adapter (or why there is none). Not a test.
 *
 *   npm run build && node dist/bench/gpu.js [--steps N] [--cases ort:webgpu,tfjs:cpu] [--nets bireal-small,./bireal-resnet18]
 *
 * On Mesa's llvmpipe (a CPU rasteriser) the WebGPU figures measure the code path on the CPU cores, not
 * a GPU; the file says which adapter it was.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { EngineFactory } from '../src/train/engine.js';
import { loadSpec, measure } from './train.js';
import { isMain, machine, repoRoot, writeReport } from './common.js';

type Engine = 'ort' | 'tfjs';
type Device = 'cpu' | 'webgpu';

interface Net {
  net: string;
  batch: number;
  steps: number;
}

export interface GpuBenchOptions {
  nets?: Net[];
  /** `engine:device` pairs to measure (default: all four). */
  cases?: `${Engine}:${Device}`[];
  /** Cases too slow to be worth it, `engine:device:net` (default: pure-JS tfjs on ResNet18). */
  skip?: string[];
  steps?: number;
  threads?: number;
  out?: string;
}

const NETS: Net[] = [
  { net: 'bireal-small', batch: 16, steps: 3 },
  { net: 'rf-c3-small', batch: 16, steps: 2 },
  { net: 'drf-c2-small', batch: 8, steps: 2 },
  { net: './bireal-resnet18', batch: 2, steps: 1 },
];

const SKIP = ['tfjs:cpu:./bireal-resnet18'];

async function factory(engine: Engine, device: Device, adapter: string | undefined): Promise<EngineFactory> {
  if (engine === 'tfjs') {
    const { tfjsEngineFactory } = await import('../backends/tfjs/engine.js');
    return tfjsEngineFactory({ device });
  }
  const { createOrtEngineWith } = await import('../backends/ort-train/engine.js');
  return (options) => createOrtEngineWith({ ...options, provider: device, ...(adapter ? { adapter } : {}) });
}

export async function run(options: GpuBenchOptions = {}): Promise<object> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const root = repoRoot();
  const { probeWebGpuAdapter, adapterName } = await import('../backends/webgpu/adapter.js');
  const { ORT_VERSION } = await import('../backends/ort-train/session.js');
  const probe = await probeWebGpuAdapter();
  const adapter = probe.adapter ? adapterName(probe.adapter) : undefined;
  const cases = options.cases ?? ['ort:cpu', 'ort:webgpu', 'tfjs:cpu', 'tfjs:webgpu'];
  const skip = new Set(options.skip ?? SKIP);
  const threads = options.threads ?? cpus().length;
  const results: object[] = [];
  const loadStart = loadavg();
  // Written after every measurement, so a long run that dies keeps what it measured.
  const write = (finished: boolean) => {
    const report = {
      bench: 'gpu',
      date: new Date().toISOString(),
      finished,
      machine: machine(loadStart),
      onnxruntime: ORT_VERSION,
      adapter: probe.adapter ?? null,
      noAdapter: probe.adapter ? undefined : probe.failure,
      note: 'tfjs on the CPU is pure JavaScript (no tfjs-node here); the WebGPU adapter is whatever Dawn found (see adapter.software)',
      results,
    };
    writeReport(options.out ?? join(root, 'bench', 'results', 'gpu.json'), report);
    return report;
  };
  for (const { net, batch, steps } of options.nets ?? NETS) {
    const graph = loadSpec(root, net);
    for (const c of cases) {
      const [engine, device] = c.split(':') as [Engine, Device];
      const name = net.startsWith('./') ? net.slice(2) : `fashion/${net}`;
      if (skip.has(`${c}:${net}`) || (device === 'webgpu' && !adapter)) {
        const why = device === 'webgpu' && !adapter ? `no WebGPU adapter: ${probe.failure}` : 'pure-JS tfjs: minutes a step at 224×224';
        results.push({ net: name, engine, device, skipped: why });
        continue;
      }
      const measured = await measure(await factory(engine, device, adapter), graph, batch, 1, options.steps ?? steps, engine === 'ort' ? threads : undefined);
      results.push({ net: name, engine, device: device === 'webgpu' ? `webgpu (${adapter})` : 'cpu', batch, steps: options.steps ?? steps, ...measured });
      process.stderr.write(`${name} ${engine} on ${device}: ${measured.samplesPerSecond} samples/s (batch ${batch}, median step ${measured.stepMs.median} ms)\n`);
      write(false);
    }
  }
  return write(true);
}

function parseArgs(argv: string[]): GpuBenchOptions {
  const o: GpuBenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i];
    if (argv[i] === '--steps') o.steps = Number(value());
    else if (argv[i] === '--threads') o.threads = Number(value());
    else if (argv[i] === '--cases') o.cases = value().split(',') as GpuBenchOptions['cases'];
    else if (argv[i] === '--nets') o.nets = value().split(',').map((net) => NETS.find((n) => n.net === net) ?? { net, batch: 8, steps: 2 });
    else if (argv[i] === '--out') o.out = value();
    else throw new Error(`bench/gpu: unknown option ${argv[i]}`);
  }
  return o;
}

if (isMain(import.meta.url)) {
  run(parseArgs(process.argv.slice(2))).then(
    () => {},
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
