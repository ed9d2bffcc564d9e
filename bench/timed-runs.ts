/** Milliseconds of each of `runs` consecutive calls of `run` (awaited). No Node APIs: bench pages use it too. */
export async function timedRuns(run: () => unknown, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return times;
}
