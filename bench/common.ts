/**
 * What the benchmarks share: the repository root, the machine a results file was measured on, writing
 * and printing the report, and reading the command line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../cli/common.js';
import { machineRecord } from '../cli/machine.js';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'specs'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the repository root');
    dir = up;
  }
  return dir;
}

/**
 * The machine a figure was measured on: CPU count, model, family and SIMD extensions, memory, the date,
 * and the load average when the run began and now (a busy machine shows). Figures compare only within
 * one results file: machines differ between sessions.
 */
export function machine(loadStart: number[]) {
  return { ...machineRecord(), loadAverage: { start: loadStart, end: loadavg() } };
}

/** Writes a benchmark's report to `path` (atomically) as indented JSON. */
export function writeReport(path: string, report: unknown): void {
  writeFileAtomic(path, JSON.stringify(report, null, 2) + '\n');
}

/** True when the module at `url` (its `import.meta.url`) is the script node was started with. */
export const isMain = (url: string): boolean => !!process.argv[1] && url === pathToFileURL(process.argv[1]).href;

/** Runs `report` and prints what it resolves to as indented JSON on stdout; if it fails, the error's message (`stack`: its stack) on stderr, and exit 1. */
export function printReport(report: () => Promise<unknown>, o: { stack?: boolean } = {}): void {
  // A thunk, so that a bad flag (thrown while the options are read) is reported like any failure.
  Promise.resolve().then(report).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e) => {
      process.stderr.write(`${o.stack ? ((e as Error).stack ?? e) : (e as Error).message}\n`);
      process.exit(1);
    },
  );
}

/** A reader of `bench/<bench>`'s whole-number option values that are at least `min` (0 or 1). */
export function wholeNumber(bench: string, min: 0 | 1): (flag: string, v: string | undefined) => number {
  return (flag, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`bench/${bench}: ${flag} expects a whole number${min > 0 ? ` ≥ ${min}` : ''}, got '${v}'`);
    return n;
  };
}

/** The keys of `O` whose values are numbers. */
type NumberKeys<O> = { [K in keyof O]-?: O[K] extends number | undefined ? K : never }[keyof O] & string;

/**
 * Reads a benchmark's command line into `o`: `--key value` for each of `numbers` sets `o.key` to
 * `number(flag, value)`; `other` reads the other options (`value()` takes the next argument); any
 * other argument is an unknown option.
 */
export function parseFlags<O extends object>(
  bench: string,
  argv: readonly string[],
  o: O,
  numbers: { keys: readonly NumberKeys<O>[]; number: (flag: string, v: string) => number },
  other: Record<string, (value: () => string) => void>,
): O {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => argv[++i];
    const key = numbers.keys.find((k) => flag === `--${k}`);
    if (key !== undefined) (o as Record<string, number>)[key] = numbers.number(flag, value());
    else if (Object.hasOwn(other, flag)) other[flag](value);
    else throw new Error(`bench/${bench}: unknown option ${flag}`);
  }
  return o;
}
