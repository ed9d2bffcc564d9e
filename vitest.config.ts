import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // onnxruntime-node and tfjs keep native/worker state; forks isolate them cleanly.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
