/**
 * The native kernels (native/build/Release/sofar_kernels.node, built by `npm ci`) against the scalar
 * JavaScript reference, for every instruction set this CPU has (forced with setIsa) and 1 and 2 threads;
 * and the glue's argument checks: bad arguments throw instead of touching memory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { ADDON_ABI, loadAddonKernels, staleAddon } from '../../backends/runtime/kernels.js';
import { skipWithout } from '../helpers/requirements.js';
import {
  channelSweepShape, checkBconv, checkConv, checkConvAvgpool2, checkConvMaxpool, checkDense, checkElementwise, checkPackSigns, checkPools, Rng,
  type ArenaFactory, type Config, type KernelApi,
} from './kernels-reference.js';
import { checkDepthwise, checkFloatOps } from './kernels-reference-float.js';

const addonPath = fileURLToPath(new URL('../../native/build/Release/sofar_kernels.node', import.meta.url));

interface Addon extends KernelApi {
  detectedIsa(): number;
  setIsa(isa: number): number;
  isaInUse(): number;
  setThreads(n: number): void;
  threads(): number;
  info(): { version: string; detectedIsa: string; isa: string; isas: string[]; threads: number };
  version: string;
  abi: number;
  [name: string]: unknown;
}

const addon: Addon | null = existsSync(addonPath) ? (createRequire(import.meta.url)(addonPath) as Addon) : null;
const skip = skipWithout(addon ? null : `the native kernels (${addonPath}; npm ci builds them)`);

const arena: ArenaFactory = (bytes) => ({ buffer: new ArrayBuffer(bytes), base: 0 });

describe.skipIf(skip)('native kernels', () => {
  const a = addon!;
  const names = ['scalar', 'avx2', 'avx512'];
  const isas = [0, 1, 2].filter((i) => i <= a.detectedIsa() && a.detectedIsa() !== 3);
  const configs: Config[] = isas.flatMap((isa) =>
    [1, 2].map((threads) => ({
      label: `${names[isa]}, threads ${threads}`,
      setup: () => {
        expect(a.setIsa(isa)).toBe(isa);
        a.setThreads(threads);
      },
    })),
  );
  afterAll(() => {
    a.setIsa(a.detectedIsa());
    a.setThreads(1);
  });

  it('reports its capabilities', () => {
    const info = a.info();
    expect(info.version).toBe(a.version);
    expect(info.isas).toContain('scalar');
    expect(names.indexOf(info.detectedIsa)).toBe(a.detectedIsa());
    expect(a.setIsa(99)).toBe(a.detectedIsa()); // clamped
    a.setThreads(3);
    expect(a.threads()).toBe(3);
    a.setThreads(1);
  });

  it("takes the arguments this runtime passes, and the runtime refuses an addon that takes others (one left from before a pull)", () => {
    expect(a.abi).toBe(ADDON_ABI);
    expect(staleAddon(a, addonPath)).toBeNull();
    expect(staleAddon({}, '/old/sofar_kernels.node')).toMatch(/^\/old\/sofar_kernels\.node was built from other sources than this runtime \(kernel interface 1, this runtime's \d+\)$/);
    expect(staleAddon({ abi: ADDON_ABI + 1 }, 'x')).not.toBeNull();
  });

  it('loads as a kernel set of its own beside the runtime\'s (bench/builds), and refuses a file that is no addon', () => {
    const own = loadAddonKernels(addonPath);
    expect(own.description).toMatch(/^native \(/);
    expect(own.packedWords(130, 1)).toBe(3);
    expect(() => loadAddonKernels(fileURLToPath(import.meta.url))).toThrow();
  });

  it('counts the chunks each thread runs: at 2 threads both take part in a conv, at 1 the caller alone', () => {
    const own = loadAddonKernels(addonPath);
    const counts = () => own.chunksRun!();
    const conv = () => checkBconv(a, arena, configs.filter((c) => c.label === 'scalar, threads 2'), new Rng(11), 2);
    expect(counts()).toHaveLength(64);
    // a worker may be slow to wake on a busy machine: a few more convs then
    const before = counts();
    for (let rep = 0; rep < 50 && !(counts()[0] > before[0] && counts()[1] > before[1]); rep++) conv();
    const after = counts();
    expect(after[0], 'chunks run by the caller').toBeGreaterThan(before[0]);
    expect(after[1], 'chunks run by worker 1').toBeGreaterThan(before[1]);
    a.setThreads(1);
    const one = counts();
    a.setIsa(0);
    checkBconv(a, arena, [{ label: 'scalar, threads 1', setup: () => a.setThreads(1) }], new Rng(12), 2);
    expect(counts().slice(1)).toEqual(one.slice(1));
    a.setIsa(a.detectedIsa());
  });

  it('packs signs, also of an affine map (0, -0 and NaN as +1)', () => checkPackSigns(a, arena, configs, new Rng(1), 20));
  it('binary conv equals the reference exactly', () => checkBconv(a, arena, configs, new Rng(2), 60));
  it('binary conv: every channel count 1..130 (row-packed taps and not), exactly', () => {
    const rng = new Rng(22);
    checkBconv(a, arena, configs, rng, 130, (t) => channelSweepShape(rng, t));
  });
  it('float conv matches the reference', () => checkConv(a, arena, configs, new Rng(3), 50));
  it('a stem with its max pool fused equals the pool of the conv exactly', () => checkConvMaxpool(a, arena, configs, new Rng(9), 12));
  it('a 1×1 conv with the 2×2 average pool before it fused equals the two steps exactly', () => checkConvAvgpool2(a, arena, configs, new Rng(10), 6));
  it('dense matches the reference', () => checkDense(a, arena, configs, new Rng(4), 12));
  it('pooling equals the reference', () => checkPools(a, arena, configs.filter((c) => c.label.startsWith('scalar')), new Rng(5), 10));
  it('element-wise ops and layouts equal the reference', () => checkElementwise(a, arena, new Rng(6)));
  it('depthwise conv equals the reference exactly', () => checkDepthwise(a, arena, configs, new Rng(7), 40));
  it('sigmoid, round, division, products, slices and channel padding equal the reference', () => checkFloatOps(a, arena, new Rng(8)));

  describe('rejects bad arguments', () => {
    // a valid 3x3 64->64 bconv on 4x4, then one thing wrong at a time
    const shape = [1, 4, 4, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const buf = new ArrayBuffer(1 << 20);
    const scratch = 4096;
    const good = (): unknown[] => [buf, 0, 1024, -1, -1, -1, 8192, -1, 65536, ...shape, 0, 0, 1];
    const call = (args: unknown[]): void => (a.bconv2d as (...x: unknown[]) => void)(...args);
    void scratch;

    it('accepts the valid call', () => {
      expect(() => call(good())).not.toThrow();
    });
    it('wrong argument count or types: TypeError', () => {
      expect(() => call(good().slice(0, -1))).toThrow(TypeError);
      const g = good();
      g[0] = new Uint8Array(16);
      expect(() => call(g)).toThrow(TypeError);
      const h = good();
      h[10] = '4';
      expect(() => call(h)).toThrow(TypeError);
    });
    it('buffers outside the arena: RangeError', () => {
      const g = good();
      g[6] = buf.byteLength - 64; // y does not fit
      expect(() => call(g)).toThrow(/do not fit/);
      const small = good();
      small[0] = new ArrayBuffer(2048); // x and kernel fit, the rest not
      expect(() => call(small)).toThrow(RangeError);
      const neg = good();
      neg[1] = -8;
      expect(() => call(neg)).toThrow(RangeError);
    });
    it('misaligned offsets: RangeError', () => {
      const g = good();
      g[1] = 4; // uint64 words at a 4-byte offset
      expect(() => call(g)).toThrow(/aligned/);
      const f = good();
      f[6] = 8194; // floats at an odd offset
      expect(() => call(f)).toThrow(/aligned/);
    });
    it('bad pad value, groups, strides, shapes: RangeError', () => {
      const set = (i: number, v: unknown): unknown[] => {
        const g = good();
        g[i] = v;
        return g;
      };
      expect(() => call(set(25, 2))).toThrow(/padValue/);
      expect(() => call(set(24, 3))).toThrow(/groups/);
      expect(() => call(set(26, 10))).toThrow(/yStride/);
      expect(() => call(set(10, 1.5))).toThrow(/integer/);
      expect(() => call(set(10, 0))).toThrow(RangeError);
      expect(() => call(set(14, 9))).toThrow(/larger than the padded input/);
      expect(() => call(set(9, 2 ** 24))).toThrow(RangeError);
      expect(() => call(set(9, NaN))).toThrow(RangeError);
      // enormous extents must not overflow into a small one
      expect(() => call([buf, 0, 1024, -1, -1, -1, 8192, -1, 65536, 2 ** 24, 2 ** 24, 2 ** 24, 64, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1])).toThrow(RangeError);
      // needs an output
      expect(() => call(set(6, -1))).toThrow(/needs y or yPacked/);
      // packed output groups must divide cout
      const yp = set(7, 16384);
      yp[27] = 3;
      expect(() => call(yp)).toThrow(/yPackGroups/);
      // required scratch, not overlapping the other buffers
      expect(() => call(set(8, -1))).toThrow(/required/);
      expect(() => call(set(8, 8192))).toThrow(/scratch overlaps y/);
      expect(() => call(set(8, 0))).toThrow(/scratch overlaps x/);
    });
    it('other kernels check their extents too', () => {
      expect(() => a.addF32(buf, 0, 0, buf.byteLength - 4, 2)).toThrow(RangeError);
      expect(() => a.conv2dF32(buf, 0, 0, -1, -1, 0, 0, 1, 224, 224, 3, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1, 0, 0)).toThrow(RangeError);
      expect(() => a.maxpoolF32(buf, 0, 0, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0, 0, 0)).toThrow(RangeError);
      expect(() => a.packSigns(buf, 0, 4, 1, 64, 0, 1)).toThrow(/aligned/);
      expect(() => (a.packSignsAffine as (...x: unknown[]) => void)(buf, 0, 0, buf.byteLength - 8, 0, 1, 64, 0, 1)).toThrow(/shift/);
      expect(() => a.denseF32(buf, 0, 0, -1, 0, 1, 1 << 20, 1 << 20)).toThrow(RangeError);
      expect(() => a.setThreads(0)).toThrow(RangeError);
      // depthwise: 3x3 over 8x8x16, then one thing wrong at a time
      const dw = (...over: [number, number][]): unknown[] => {
        const args: unknown[] = [buf, 0, 8192, -1, -1, 16384, 1, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        for (const [i, v] of over) args[i] = v;
        return args;
      };
      const callDw = (args: unknown[]): void => (a.dwconv2dF32 as (...x: unknown[]) => void)(...args);
      expect(() => callDw(dw())).not.toThrow();
      expect(() => callDw(dw([5, buf.byteLength - 64]))).toThrow(/do not fit/);
      expect(() => callDw(dw([10, 40], [11, 40], [7, 60], [8, 60]))).toThrow(/at most 1024 taps/);
      expect(() => callDw(dw([10, 11]))).toThrow(/larger than the padded input/);
      expect(() => callDw(dw([20, 8]))).toThrow(/yStride/);
      expect(() => a.mulChannelsF32(buf, 0, buf.byteLength - 4, 0, 2, 4, 16)).toThrow(/do not fit/);
      expect(() => a.copyStridedF32(buf, 0, 0, 4, 16, 8, 0)).toThrow(/xStride/);
      expect(() => a.padChannelsF32(buf, 0, buf.byteLength - 64, 4, 16, 1, 1)).toThrow(/do not fit/);
      expect(() => (a.divF32 as (...x: unknown[]) => void)(buf, 0, -1, 0, 4, 16, 0)).toThrow(/divisor/);
      expect(() => a.bconv2dScratchBytes(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2)).toThrow(/groups/);
    });
  });

  describe.skipIf(process.platform !== 'linux')('the arena (Linux: our own mapping, in huge pages)', () => {
    const arenaOf = a.arena as (bytes: number) => ArrayBuffer | undefined;
    const release = a.releaseArena as (buffer: ArrayBuffer) => void;
    const anonHuge = () => Number(/AnonHugePages:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0);
    const thp = existsSync('/sys/kernel/mm/transparent_hugepage/enabled') ? readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8') : '';

    it('is zeroed, works with the kernels, and once released is empty and refused', () => {
      const buf = arenaOf(3 << 20)!;
      expect(buf.byteLength).toBe(3 << 20);
      expect(new Float32Array(buf).every((v) => v === 0)).toBe(true);
      new Float32Array(buf, 0, 4).set([1, 2, 3, 4]);
      a.addF32(buf, 0, 0, 64, 4);
      expect(Array.from(new Float32Array(buf, 64, 4))).toEqual([2, 4, 6, 8]);
      release(buf);
      expect(buf.byteLength).toBe(0);
      expect(() => a.addF32(buf, 0, 0, 64, 4)).toThrow(RangeError);
      release(buf); // twice: nothing more happens
      expect(() => arenaOf(0)).toThrow(RangeError);
    });

    it.skipIf(!/\[(always|madvise)\]/.test(thp))('is backed by huge pages where transparent huge pages are on', () => {
      const before = anonHuge();
      const buf = arenaOf(8 << 20)!;
      new Uint8Array(buf).fill(1);
      expect(anonHuge() - before).toBeGreaterThanOrEqual(4096); // kB: at least two of its four 2 MiB pages
      release(buf);
    });
  });
});
