/**
 * The official ONNX checker, run from the tests: Debian's python3-onnx under /usr/bin/python3 (the
 * `python3` on PATH may be another interpreter without onnx). `.ci/run` installs the package; on a
 * machine without it, tests skip through `skipWithout(checkerMissing())` (but fail under `.ci/run`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHECKER_PYTHON = '/usr/bin/python3';

const SCRIPT = `
import sys, onnx
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as e:
        print(f"{path}: {type(e).__name__}: {e}")
        sys.exit(1)
print("ok")
`;

let availability: string | null | undefined;

/** Why the checker cannot run here, or null when it can. */
export function checkerMissing(): string | null {
  if (availability !== undefined) return availability;
  const r = spawnSync(CHECKER_PYTHON, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
  availability = r.status === 0 ? null : `the official ONNX checker is missing: ${CHECKER_PYTHON} cannot import onnx (apt-get install python3-onnx)`;
  return availability;
}

export interface CheckResult {
  ok: boolean;
  /** The checker's message on failure. */
  message: string;
}

/**
 * Runs `onnx.checker.check_model(path, full_check=True)` on model files or in-memory models. Each is
 * checked from a private copy: given a path, full_check writes the shape-inferred model back to it.
 */
export function checkOnnx(models: readonly (string | Uint8Array)[]): CheckResult {
  const dir = mkdtempSync(join(tmpdir(), 'sofar-onnx-check-'));
  try {
    const r = spawnSync(CHECKER_PYTHON, ['-c', SCRIPT, ...copies(dir, models)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    return { ok: r.status === 0, message: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `checkOnnx` without blocking the event loop. */
export async function checkOnnxAsync(models: readonly (string | Uint8Array)[]): Promise<CheckResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sofar-onnx-check-'));
  try {
    const child = spawn(CHECKER_PYTHON, ['-c', SCRIPT, ...copies(dir, models)]);
    let message = '';
    child.stdout.on('data', (d: Buffer) => (message += d.toString()));
    child.stderr.on('data', (d: Buffer) => (message += d.toString()));
    const status = await new Promise<number | null>((done, fail) => {
      child.on('error', fail);
      child.on('close', done);
    });
    return { ok: status === 0, message: message.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function copies(dir: string, models: readonly (string | Uint8Array)[]): string[] {
  return models.map((m, i) => {
    const path = join(dir, `model${i}.onnx`);
    if (typeof m === 'string') copyFileSync(m, path);
    else writeFileSync(path, m);
    return path;
  });
}
