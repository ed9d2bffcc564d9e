#!/usr/bin/env node
/**
 * Builds native/wasm/sofar_kernels.wasm: the same C sources as the addon (native/src, without the Node
 * glue), freestanding, for wasm32 with SIMD128 and bulk memory, with clang + wasm-ld (Debian:
 * `apt-get install clang lld`). The build is deterministic: the same clang gives the same bytes; the
 * clang that built the committed module is recorded in native/wasm/BUILD-INFO.txt.
 *
 *   node scripts/build-wasm.mjs [--threads] [--out FILE] [--clang PATH]
 *
 * --threads builds native/wasm/sofar_kernels_threads.wasm instead: the same sources with atomics, linked
 * with an imported shared memory (env.memory: 128 pages initial, 32768 maximum), exporting
 * `__stack_pointer` and the worker entry points of src/threadpool.c (sofar_wasm_worker,
 * sofar_wasm_worker_stack, sofar_wasm_worker_quit, sofar_wasm_chunks_run); wasm-ld's __wasm_init_memory (the start function)
 * initialises the data once, whichever instance comes first.
 *
 * The module exports every function of native/include/sofar_kernels.h (pointers and size_t are i32
 * addresses / counts; NULL = 0), `memory` (growable), and `sofar_wasm_heap_base()`: the first free,
 * 64-byte-aligned byte, where an arena may start (grow the memory to fit it). The stack (1 MiB) lies below
 * the data, so an overflow traps instead of corrupting it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const native = join(root, 'native');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const threaded = args.includes('--threads');
const out = option('--out', join(native, 'wasm', threaded ? 'sofar_kernels_threads.wasm' : 'sofar_kernels.wasm'));
const clang = option('--clang', process.env.CLANG ?? 'clang');

// The threaded module imports its memory (env.memory, shared): JavaScript creates it with these sizes
// (backends/runtime/wasm.ts: THREADS_MEMORY).
const THREADS_INITIAL_PAGES = 128;
const THREADS_MAX_PAGES = 32768;

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: native, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

const version = run(clang, ['--version']).split('\n')[0].trim();
if (!/\bwasm32\b/.test(run(clang, ['--print-targets']))) throw new Error(`${clang} has no wasm32 target`);

// relative paths, sorted: the command line (and so the output) does not depend on where the clone is
const sources = readdirSync(join(native, 'src'))
  .filter((f) => f.endsWith('.c') && f !== 'addon.c')
  .sort()
  .map((f) => join('src', f));
const header = readFileSync(join(native, 'include', 'sofar_kernels.h'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
const exported = [...new Set([...header.matchAll(/\b(sofar_\w+)\s*\(/g)].map((m) => m[1]))].sort();

const flags = [
  '--target=wasm32', '-msimd128', '-mbulk-memory', ...(threaded ? ['-matomics', '-mmutable-globals'] : []), '-O3', '-std=c11', '-ffp-contract=off', '-ffreestanding',
  '-Wall', '-Wextra', '-Wno-unused-parameter', '-Iinclude',
];
const link = [
  '--no-entry', '--stack-first', '-z', 'stack-size=1048576', '--strip-all',
  ...exported.map((name) => `--export=${name}`), '--export=sofar_wasm_heap_base',
  ...(threaded
    ? ['--import-memory', '--shared-memory', `--initial-memory=${THREADS_INITIAL_PAGES * 65536}`, `--max-memory=${THREADS_MAX_PAGES * 65536}`,
       '--export=__stack_pointer', '--export=sofar_wasm_worker', '--export=sofar_wasm_worker_stack', '--export=sofar_wasm_worker_quit', '--export=sofar_wasm_chunks_run']
    : []),
];
// Compile, then link with wasm-ld directly: clang's driver would also run a wasm-opt found on PATH,
// whose version (and so the output) varies from machine to machine.
const wasmLd = run(clang, ['--print-prog-name=wasm-ld']).trim();
const objDir = mkdtempSync(join(tmpdir(), 'sofar-wasm-'));
try {
  const objects = sources.map((src) => {
    const obj = join(objDir, basename(src).replace(/\.c$/, '.o'));
    run(clang, [...flags, '-c', src, '-o', obj]);
    return obj;
  });
  mkdirSync(dirname(out), { recursive: true });
  run(wasmLd, [...link, ...objects, '-o', out]);
} finally {
  rmSync(objDir, { recursive: true, force: true });
}

if (!args.includes('--out')) {
  // one file for both modules: line 2 is the clang (the rebuild test compares it), then one block per module
  const info = join(native, 'wasm', 'BUILD-INFO.txt');
  const name = basename(out);
  const blocks = new Map();
  if (existsSync(info)) {
    for (const block of readFileSync(info, 'utf8').split(/\n(?=\S+\.wasm: )/)) {
      const m = /^(\S+\.wasm): /.exec(block);
      if (m && m[1] !== name && block.includes(`\n${version}\n`)) blocks.set(m[1], block.trimEnd() + '\n');
    }
  }
  blocks.set(name, `${name}: built by scripts/build-wasm.mjs with\n${version}\nsources: ${sources.join(' ')}\nflags: ${flags.join(' ')}\n${threaded ? `link: ${link.filter((f) => !/^--export=sofar_(?!wasm)/.test(f)).join(' ')}\n` : ''}`);
  const order = ['sofar_kernels.wasm', 'sofar_kernels_threads.wasm'];
  writeFileSync(info, [...blocks.keys()].sort((a, b) => order.indexOf(a) - order.indexOf(b)).map((k) => blocks.get(k)).join(''));
}
console.log(`${relative(process.cwd(), out)}: ${exported.length + 1} functions, ${readFileSync(out).length} bytes (${version})`);
