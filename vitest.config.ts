import { defineConfig } from 'vitest/config';

// test/zoo runs every Larq Zoo spec end to end in every backend: tens of minutes on 2 cores, so it is a
// lane of its own (`npm run test:zoo`), not part of `npm test`.
const zoo = process.env.SOFAR_TEST_ZOO === '1';

export default defineConfig({
  test: {
    include: zoo ? ['test/zoo/**/*.test.ts'] : ['test/**/*.test.ts'],
    exclude: zoo ? [] : ['test/zoo/**', '**/node_modules/**'],
    // onnxruntime-node and tfjs keep native/worker state; forks isolate them cleanly.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
