import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// test/zoo runs every Larq Zoo spec end to end in every backend: tens of minutes on 2 cores, so it is a
// lane of its own (`npm run test:zoo`), not part of `npm test`.
const zoo = process.env.SOFAR_TEST_ZOO === '1';
const cores = availableParallelism();

export default defineConfig({
  test: {
    include: zoo ? ['test/zoo/**/*.test.ts'] : ['test/**/*.test.ts'],
    exclude: zoo ? [] : ['test/zoo/**', '**/node_modules/**'],
    // onnxruntime-node and tfjs keep native/worker state; forks isolate them cleanly.
    pool: 'forks',
    // Vitest's default, one fork fewer than the cores, is one fork on a 2-core machine, the size this suite
    // is written for. Its slow files mostly wait on other processes (torchrun, python3, Chromium, gcc, qemu)
    // or on onnxruntime's session set-up, so two forks on two cores ran it in 563 s against 789 s for one
    // (2026-12-06); one core keeps one fork, and from 4 cores up the default stands.
    maxWorkers: Math.max(Math.min(2, cores), cores - 1),
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
