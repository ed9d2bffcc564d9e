/**
 * Builds the C test harness (native/test/kernels_test.c: every ISA against naive references on random
 * shapes, threads 1 and 2, exact-extent buffers) together with native/src under AddressSanitizer and
 * UndefinedBehaviorSanitizer, and runs it: any out-of-bounds access or undefined behaviour fails.
 *
 * Then fuzzes the addon's argument checks: the addon built with ASan, loaded into a Node with libasan
 * preloaded (so ArrayBuffers get redzones), is called thousands of times with random shapes and offsets,
 * many of them at the arena's end and overlapping each other (garbage in, garbage out, but never a
 * read or write outside the arena); every call must either run without an ASan report or throw a
 * RangeError / TypeError.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { skipWithout } from '../helpers/requirements.js';

const native = fileURLToPath(new URL('../../native/', import.meta.url));
const hasGcc = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(skipWithout(hasGcc ? null : 'gcc'))('native kernels under ASan + UBSan', () => {
  it('the C harness passes with no sanitizer report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sofar-asan-'));
    try {
      const sources = readdirSync(join(native, 'src'))
        .filter((f) => f.endsWith('.c') && f !== 'addon.c' && !f.startsWith('wasm'))
        .map((f) => join(native, 'src', f));
      const exe = join(dir, 'kernels_test');
      const cc = spawnSync('gcc', [
        '-std=c11', '-O1', '-g', '-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-fno-sanitize-recover=all',
        '-ffp-contract=off', '-I', join(native, 'include'), ...sources, join(native, 'test', 'kernels_test.c'),
        '-lpthread', '-lm', '-o', exe,
      ], { encoding: 'utf8' });
      expect(cc.status, cc.stderr).toBe(0);
      const run = spawnSync(exe, ['60', '7'], {
        encoding: 'utf8',
        env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1' },
      });
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/ok/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Node's own headers (as scripts/build-native.mjs uses them), or node-gyp's downloaded copy. */
function nodeHeaders(): string | undefined {
  const dirs = [
    join(dirname(dirname(process.execPath)), 'include', 'node'),
    join(process.env.HOME ?? '', '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
  ];
  return dirs.find((d) => existsSync(join(d, 'node_api.h')));
}
const libasan = hasGcc ? spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim() : '';
const headers = nodeHeaders();
const canFuzz = hasGcc && libasan.startsWith('/') && existsSync(libasan) && headers !== undefined;
if (hasGcc && !canFuzz) console.warn(`SKIPPED: the addon fuzz needs libasan and Node's headers (libasan: ${libasan || 'none'}, headers: ${headers ?? 'none'})`);

const FUZZ = String.raw`
const a = require(process.argv[2]);
let seed = Number(process.argv[3]);
const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
const ri = (n) => Math.floor(rnd() * n);
const pick = (v) => v[ri(v.length)];
const odd = () => pick([0, 1, 2, 3, 7, 8, 16, 63, 64, 65, -1, 1 << 20, 2 ** 31, 1.5, NaN]);
const dim = () => (ri(10) ? 1 + ri(9) : odd());
const ch = () => (ri(10) ? pick([1, 3, 8, 63, 64, 65, 128]) : odd());
let ok = 0;
for (let it = 0; it < Number(process.argv[4]); it++) {
  const bytes = pick([64, 1000, 4096, 65536, 1 << 20]) + ri(64);
  const buf = new ArrayBuffer(bytes);
  const off = () => { const r = ri(10); return r === 0 ? -1 : r === 1 ? ri(bytes + 16) : r < 4 ? Math.max(0, (bytes & ~7) - 8 * ri(2000)) : r < 6 ? 0 : 8 * ri(Math.max(1, bytes >> 5)); };
  const k = ri(3) ? 1 + ri(3) : odd(), s = ri(5) ? 1 + ri(2) : odd(), p = () => (ri(4) ? ri(k > 0 && k < 9 ? k : 2) : odd());
  const conv = [ri(4) ? 1 : dim(), dim(), dim(), ch(), ch(), k, k, s, s, p(), p(), p(), p(), ri(5) ? 1 : 2, ri(5) ? 1 : 2, pick([1, 1, 1, 2, 4, 3])];
  const fn = pick(['bconv2d', 'bconv2dPrepacked', 'bconv2dPrepackedPost', 'bconv2dEpilogue', 'bconv2dEpiloguePack2', 'bconv2dEpilogueRes2', 'sumF32', 'conv2dF32', 'packSigns', 'packSignsAffine', 'packSignsAffine2', 'maxpoolF32', 'maxpoolReluF32', 'avgpoolF32', 'denseF32', 'affineF32', 'clipF32', 'addF32', 'nchwToNhwc', 'globalAvgpoolF32', 'bconv2dPackKernel', 'conv2dF32PackWeights', 'conv2dF32Maxpool', 'conv2dF32MaxpoolPack', 'conv2dF32Avgpool2', 'conv2dF32Avgpool2ScratchBytes']);
  let args;
  switch (fn) {
    case 'bconv2d': case 'bconv2dPrepacked': args = [buf, off(), off(), off(), off(), off(), off(), off(), off(), ...conv, ri(4) - 1, pick([0, 0, conv[4] + 1, 3]), pick([1, 1, 2, 0, 3])]; break;
    case 'bconv2dPrepackedPost': args = [buf, off(), off(), off(), off(), off(), off(), off(), off(), off(), off(), ...conv, ri(4) - 1, pick([0, 0, conv[4] + 1, 3]), pick([1, 1, 2, 0, 3])]; break;
    case 'bconv2dEpilogue': args = [buf, off(), off(), off(), off(), off(), off(), off(), ...conv, ri(4) - 1, pick([0, 0, conv[4] + 1, 3]), pick([0, 0, conv[4] + 2, 3]), pick([0, 0, 3, 1]), ri(10) ? pick([ri(512), ri(4096), 512 | ri(256), (ri(2) ? 1024 : 2048) | 512 | ri(256)]) : odd(), pick([1, 1, 2, 0, 3])]; break;
    case 'bconv2dEpiloguePack2': args = [buf, off(), off(), off(), off(), off(), off(), off(), off(), off(), off(), off(), ...conv, ri(4) - 1, pick([0, 0, conv[4] + 1, 3]), pick([0, 0, conv[4] + 2, 3]), pick([0, 0, 3, 1]), ri(10) ? pick([ri(512), ri(4096), 512 | ri(256), (ri(2) ? 1024 : 2048) | 512 | ri(256)]) : odd(), pick([1, 1, 2, 0, 3]), ch(), pick([0, conv[4], conv[4] + 3, 70])]; break;
    case 'bconv2dEpilogueRes2': args = [buf, off(), off(), off(), off(), off(), off(), off(), off(), ...conv, ri(4) - 1, pick([0, 0, conv[4] + 1, 3]), pick([0, 0, conv[4] + 2, 3]), pick([0, 0, 3, 1]), ri(10) ? pick([ri(512), ri(4096), 512 | ri(256)]) : odd(), pick([1, 1, 2, 0, 3]), pick([0, 0, conv[4] + 3, 3])]; break;
    case 'conv2dF32': args = [buf, off(), off(), off(), off(), off(), off(), ...conv, pick([0, 0, conv[4] + 2]), ri(2)]; break;
    case 'conv2dF32Maxpool': case 'conv2dF32MaxpoolPack': {
      const stem = [...conv.slice(0, 3), ri(8) ? 1 + ri(4) : ch(), ...conv.slice(4, 15), ri(8) ? 1 : conv[15]];
      const offsets = fn === 'conv2dF32Maxpool' ? 6 : 9;
      args = [buf, ...Array.from({ length: offsets }, off), ...stem, ri(2), ri(5) ? ri(2) : odd(), k, k, s, s, p(), p(), p(), p()];
      break;
    }
    case 'conv2dF32Avgpool2': args = [buf, off(), off(), off(), off(), off(), off(), ri(4) ? 1 : dim(), dim() + 1, dim() + 1, ch(), ch(), pick([0, 0, conv[4] + 2, 1]), ri(5) ? ri(2) : odd()]; break;
    case 'conv2dF32Avgpool2ScratchBytes': args = [dim(), dim(), dim(), ch(), ch()]; break;
    case 'packSigns': args = [buf, off(), off(), dim(), ch(), pick([0, 0, 70]), pick([1, 2])]; break;
    case 'packSignsAffine': args = [buf, off(), off(), off(), off(), dim(), ch(), pick([0, 0, 70]), pick([1, 2])]; break;
    case 'packSignsAffine2': args = [buf, off(), off(), off(), off(), off(), off(), off(), dim(), ch(), pick([0, 0, 70]), pick([1, 2])]; break;
    case 'maxpoolF32': case 'maxpoolReluF32': case 'avgpoolF32': args = [buf, off(), off(), ...conv.slice(0, 4), k, k, s, s, p(), p(), p(), p()]; break;
    case 'denseF32': args = [buf, off(), off(), off(), off(), dim(), ch(), ch()]; break;
    case 'affineF32': args = [buf, off(), off(), off(), off(), dim(), ch(), pick([0, 0, 70])]; break;
    case 'clipF32': args = [buf, off(), off(), dim(), ch(), pick([0, 70]), -1, 1]; break;
    case 'sumF32': args = [buf, off(), off(), off(), off(), pick([1, 0.25, NaN]), off(), off(), dim(), ch(), pick([0, 0, 70, 3])]; break;
    case 'addF32': args = [buf, off(), off(), off(), dim() * 10]; break;
    case 'nchwToNhwc': args = [buf, off(), off(), dim(), ch(), dim(), dim()]; break;
    case 'globalAvgpoolF32': args = [buf, off(), off(), dim(), dim(), ch()]; break;
    default: args = [buf, off(), off(), ch(), ch(), k, k, pick([1, 2])]; break;
  }
  if (ri(50) === 0) args.pop();
  if (ri(20) === 0) { a.setIsa(ri(3)); a.setThreads(1 + ri(2)); }
  try { a[fn](...args); ok++; } catch (e) { if (!(e instanceof RangeError || e instanceof TypeError)) throw e; }
}
a.setThreads(1);
console.log('ran ' + ok);
`;

describe.skipIf(!canFuzz)('the addon under ASan', () => {
  it('random calls either run cleanly or throw', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sofar-fuzz-'));
    try {
      const sources = readdirSync(join(native, 'src'))
        .filter((f) => f.endsWith('.c') && !f.startsWith('wasm'))
        .map((f) => join(native, 'src', f));
      const addon = join(dir, 'sofar_kernels.node');
      const cc = spawnSync('gcc', [
        '-std=c11', '-O1', '-g', '-shared', '-fPIC', '-fsanitize=address', '-fno-omit-frame-pointer',
        '-ffp-contract=off', '-DNAPI_VERSION=8', '-I', join(native, 'include'), '-I', headers!, ...sources,
        '-lpthread', '-o', addon,
      ], { encoding: 'utf8' });
      expect(cc.status, cc.stderr).toBe(0);
      const script = join(dir, 'fuzz.cjs');
      writeFileSync(script, FUZZ);
      const run = spawnSync(process.execPath, [script, addon, '7', '12000'], {
        encoding: 'utf8',
        env: { ...process.env, LD_PRELOAD: libasan, ASAN_OPTIONS: 'detect_leaks=0:verify_asan_link_order=0' },
      });
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(Number(/ran (\d+)/.exec(run.stdout)?.[1])).toBeGreaterThan(1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
