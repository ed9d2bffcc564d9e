/**
 * The official ONNX checker, run from the tests: Debian's python3-onnx under /usr/bin/python3 (the
 * `python3` on PATH may be another interpreter without onnx). `.ci/run` installs the package; on a
 * machine without it, tests skip with `checkerSkipReason`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHECKER_PYTHON = '/usr/bin/python3';

const SCRIPT = `
import sys, onnx
for path in sys.argv[1:]:
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        print(f"{path}: {type(e).__name__}: {e}")
        sys.exit(1)
print("ok")
`;

let availability: string | null | undefined;

/** Why the checker cannot run here, or null when it can. */
export function checkerSkipReason(): string | null {
  if (availability !== undefined) return availability;
  const r = spawnSync(CHECKER_PYTHON, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
  availability = r.status === 0 ? null : `the official ONNX checker is missing: ${CHECKER_PYTHON} cannot import onnx (apt-get install python3-onnx)`;
  if (availability) console.warn(`SKIPPED: ${availability}`);
  return availability;
}

export interface CheckResult {
  ok: boolean;
  /** The checker's message on failure. */
  message: string;
}

/** Runs `onnx.checker.check_model(model, full_check=True)` on model files or in-memory models. */
export function checkOnnx(models: readonly (string | Uint8Array)[]): CheckResult {
  const dir = mkdtempSync(join(tmpdir(), 'sofar-onnx-check-'));
  try {
    const paths = models.map((m, i) => {
      if (typeof m === 'string') return m;
      const path = join(dir, `model${i}.onnx`);
      writeFileSync(path, m);
      return path;
    });
    const r = spawnSync(CHECKER_PYTHON, ['-c', SCRIPT, ...paths], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const message = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    return { ok: r.status === 0, message };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
