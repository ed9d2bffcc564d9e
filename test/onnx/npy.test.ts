/** The .npy reader against arrays NumPy itself wrote (Debian's python3-numpy, which python3-onnx needs). */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy } from '../../src/io/npy.js';
import { CHECKER_PYTHON } from '../helpers/onnx-checker.js';
import { skipWithout } from '../helpers/requirements.js';
import { tempDir } from '../helpers/temp.js';

const hasNumpy = spawnSync(CHECKER_PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

describe.skipIf(skipWithout(hasNumpy ? null : `${CHECKER_PYTHON} has no numpy (apt-get install python3-numpy)`))('parseNpy on files NumPy wrote', () => {
  const dir = tempDir('sofar-npy-');
  const numpy = (code: string) => {
    const r = spawnSync(CHECKER_PYTHON, ['-c', `import numpy as np, sys\nd = sys.argv[1]\n${code}`, dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
  };

  it('reads float32, float64 and uint8 arrays of any rank, row-major', () => {
    numpy(`a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8 - 1
np.save(d + '/f4.npy', a); np.save(d + '/f8.npy', a.astype(np.float64)); np.save(d + '/u1.npy', np.arange(6, dtype=np.uint8).reshape(2, 3) * 40)`);
    const expected = Array.from({ length: 24 }, (_, i) => i / 8 - 1);
    for (const name of ['f4', 'f8']) {
      const a = parseNpy(readFileSync(join(dir, `${name}.npy`)));
      expect(a.shape).toEqual([2, 3, 4]);
      expect(Array.from(a.data)).toEqual(expected);
    }
    const u = parseNpy(readFileSync(join(dir, 'u1.npy')));
    expect([u.dtype, u.shape, Array.from(u.data)]).toEqual(['uint8', [2, 3], [0, 40, 80, 120, 160, 200]]);
  });

  it('rejects Fortran order, big-endian and other dtypes with a reason', () => {
    numpy(`np.save(d + '/fortran.npy', np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(d + '/big.npy', np.ones(3, dtype='>f4')); np.save(d + '/i8.npy', np.ones(3, dtype=np.int64))`);
    expect(() => parseNpy(readFileSync(join(dir, 'fortran.npy')))).toThrow(/Fortran/);
    expect(() => parseNpy(readFileSync(join(dir, 'big.npy')))).toThrow(/unsupported dtype '>f4'/);
    expect(() => parseNpy(readFileSync(join(dir, 'i8.npy')))).toThrow(/unsupported dtype '<i8'/);
    expect(() => parseNpy(Uint8Array.of(1, 2, 3))).toThrow(/not a .npy file/);
  });

  it('writes float32 arrays NumPy reads back exactly', () => {
    const x = Float32Array.from({ length: 30 }, (_, i) => Math.fround(Math.sin(i) * 3));
    const path = join(dir, 'ours.npy');
    writeFileSync(path, encodeNpy([5, 6], x));
    const r = spawnSync(CHECKER_PYTHON, ['-c', `import numpy as np, sys, json; a = np.load(sys.argv[1]); print(json.dumps([list(a.shape), str(a.dtype), a.ravel().tolist()]))`, path], { encoding: 'utf8' });
    expect(JSON.parse(r.stdout)).toEqual([[5, 6], 'float32', Array.from(x)]);
  });
});
