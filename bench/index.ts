/**
 * `npm run bench [-- NAME...]`: runs the benchmarks (frontend, lsp, onnx, plans, runtime, batches, train, torch, web,
 * web-threads, gpu; all by default) and writes each one's figures to bench/results/NAME.json. Benchmarks are
 * not tests: they measure this machine.
 */
import { pathToFileURL } from 'node:url';

const BENCHES: Record<string, () => Promise<{ run: () => Promise<object> }>> = {
  frontend: () => import('./frontend.js'),
  lsp: () => import('./lsp.js'),
  onnx: () => import('./onnx.js'),
  plans: () => import('./plans.js'),
  runtime: () => import('./runtime.js'),
  batches: () => import('./batches.js'),
  train: () => import('./train.js'),
  torch: () => import('./torch.js'),
  web: () => import('./web.js'),
  'web-threads': () => import('./web-threads.js'),
  gpu: () => import('./gpu.js'),
};

async function main(names: string[]): Promise<void> {
  const unknown = names.filter((n) => !BENCHES[n]);
  if (unknown.length) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}; benchmarks: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  for (const name of names.length ? names : Object.keys(BENCHES)) {
    process.stderr.write(`bench ${name}...\n`);
    const t0 = performance.now();
    await (await BENCHES[name]()).run();
    process.stderr.write(`bench ${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s → bench/results/${name}.json\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
