/**
 * Builds the C test harness (native/test/kernels_test.c: every ISA against naive references on random
 * shapes, threads 1 and 2, exact-extent buffers) together with native/src under AddressSanitizer and
 * UndefinedBehaviorSanitizer, and runs it: any out-of-bounds access or undefined behaviour fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
