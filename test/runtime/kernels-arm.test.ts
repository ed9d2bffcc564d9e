/**
 * The kernels on 64-bit Arm: the C harness (native/test/kernels_test.c: every ISA against naive
 * references on random shapes, tails and odd channel counts included, threads 1 and 2) cross-compiled
 * with Debian's aarch64 toolchain and run under qemu-user. On AArch64 the NEON family is detected and
 * tested beside the scalar one. This proves exactness only: nothing here measures ARM speed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { skipWithout } from '../helpers/requirements.js';

const native = fileURLToPath(new URL('../../native/', import.meta.url));
const CC = 'aarch64-linux-gnu-gcc';
const QEMU = 'qemu-aarch64';
const found = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const missing = !found(CC) ? `${CC} (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)` : !found(QEMU) ? `${QEMU} (apt-get install qemu-user)` : null;

describe.skipIf(skipWithout(missing))('native kernels on AArch64 (cross-compiled, under qemu-user)', () => {
  it('the NEON family equals the scalar reference on swept shapes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sofar-arm-'));
    try {
      const sources = readdirSync(join(native, 'src'))
        .filter((f) => f.endsWith('.c') && f !== 'addon.c' && !f.startsWith('wasm'))
        .map((f) => join(native, 'src', f));
      const exe = join(dir, 'kernels_test');
      // As the addon is built: -O3 and no contraction of a*b+c into FMA (the binary transform must match the reference).
      const cc = spawnSync(CC, ['-std=c11', '-O3', '-static', '-ffp-contract=off', '-I', join(native, 'include'), ...sources, join(native, 'test', 'kernels_test.c'), '-lpthread', '-lm', '-o', exe], { encoding: 'utf8' });
      expect(cc.status, cc.stderr).toBe(0);
      const run = spawnSync(QEMU, [exe, '40', '11'], { encoding: 'utf8', timeout: 600_000 });
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/detected isa 4/); // SOFAR_ISA_NEON
      expect(run.stdout).toMatch(/ok/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);
});
