#!/usr/bin/env node
/**
 * Builds native/wasm/sofar_kernels.wasm: the same C sources as the addon (native/src, without the Node
 * glue), freestanding, for wasm32 with SIMD128 and bulk memory, with clang + wasm-ld (Debian:
 * `apt-get install clang lld`). The build is deterministic: the same clang gives the same bytes; the
 * clang that built the committed module is recorded in native/wasm/BUILD-INFO.txt.
 *
 *   node scripts/build-wasm.mjs [--out FILE] [--clang PATH]
 *
 * The module exports every function of native/include/sofar_kernels.h (pointers and size_t are i32
 * addresses / counts; NULL = 0), `memory` (growable), and `sofar_wasm_heap_base()`: the first free,
 * 64-byte-aligned byte, where an arena may start (grow the memory to fit it). The stack (1 MiB) lies below
 * the data, so an overflow traps instead of corrupting it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const out = option('--out', join(native, 'wasm', 'sofar_kernels.wasm'));
const clang = option('--clang', process.env.CLANG ?? 'clang');

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
  '--target=wasm32', '-msimd128', '-mbulk-memory', '-O3', '-std=c11', '-ffp-contract=off', '-ffreestanding',
  '-Wall', '-Wextra', '-Wno-unused-parameter', '-Iinclude',
];
const link = [
  '--no-entry', '--stack-first', '-z', 'stack-size=1048576', '--strip-all',
  ...exported.map((name) => `--export=${name}`), '--export=sofar_wasm_heap_base',
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
  writeFileSync(
    join(native, 'wasm', 'BUILD-INFO.txt'),
    `sofar_kernels.wasm: built by scripts/build-wasm.mjs with\n${version}\n` +
      `sources: ${sources.join(' ')}\nflags: ${flags.join(' ')}\n`,
  );
}
console.log(`${relative(process.cwd(), out)}: ${exported.length + 1} functions, ${readFileSync(out).length} bytes (${version})`);
