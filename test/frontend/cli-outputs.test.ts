/**
 * The built `sofar` binary meeting the file system and the user's keyboard: output paths that are in
 * the way, Ctrl-C, flags that contradict each other, and the forms of its outputs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/checkpoint/index.js';

const BIN = resolve('dist/cli/main.js');
const SPEC = resolve('specs/fashion/bireal-small.sofar');
const TINY = resolve('test/train/fixtures/tiny.sofar');
const sofar = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

let dir: string;
beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
  dir = mkdtempSync(join(tmpdir(), 'sofar-outputs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `node ARGS`, waits until its stdout matches `ready`, sends SIGINT; resolves with the outcome. */
function interruptWhen(args: string[], ready: RegExp): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
      if (!sent && ready.test(out)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk) => (err += String(chunk)));
    child.on('error', fail);
    child.on('close', (code) => done({ code, out, err }));
  });
}

describe('output paths', () => {
  it('a folder where the model should go is a user error naming the path, and nothing is left behind', () => {
    const target = join(dir, 'taken.onnx');
    mkdirSync(target);
    const r = sofar('build', SPEC, '-o', target);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`error: cannot write ${target}: a folder of that name is in the way`);
    expect(r.err).toContain('hint:');
    expect(r.err).not.toMatch(/internal error|\.tmp|at .*\.js:\d+/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a file where the tfjs folder should go, and train --out naming a file, are user errors', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const tfjs = sofar('build', SPEC, '--target', 'tfjs', '-o', file);
    expect(tfjs.code).toBe(1);
    expect(tfjs.err).toContain(`cannot create the folder ${file}: a file of that name is in the way`);
    const train = sofar('train', TINY, '--data', 'synthetic', '--out', file);
    expect(train.code).toBe(1);
    expect(train.err).toContain(`--out ${file} is a file, not a folder`);
    // Refused before any data is loaded or any training starts.
    expect(train.out).not.toContain('training on');
  });

  it('refuses flags that contradict the target instead of ignoring them', () => {
    const json = sofar('build', SPEC, '--target', 'graph', '-o', join(dir, 'g.onnx'));
    expect(json.code).toBe(2);
    expect(json.err).toContain('names an ONNX model, but --target is graph');
    expect(sofar('build', SPEC, '--target', 'graph', '--int').code).toBe(2);
    expect(existsSync(join(dir, 'g.onnx'))).toBe(false);
  });
});

describe('a reader that stops reading', () => {
  it('ends the command quietly (`sofar … | head`): exit 0, no EPIPE stack trace', async () => {
    // the command line's handler (installed by main), and a command that writes on after its reader is gone
    const script = join(dir, 'talker.mjs');
    writeFileSync(
      script,
      `import { installClosedPipeHandler } from ${JSON.stringify(resolve('dist/cli/common.js'))};
       if (process.argv[2] === 'handled') installClosedPipeHandler();
       process.stdout.write('ready\\n');
       setTimeout(() => { for (let i = 0; i < 1000; i++) process.stdout.write('line ' + i + '\\n'); }, 300);`,
    );
    const run = (mode: string) =>
      new Promise<{ code: number | null; err: string }>((done) => {
        const child = spawn(process.execPath, [script, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d) => (err += d));
        child.stdout.once('data', () => child.stdout.destroy());
        child.on('close', (code) => done({ code, err }));
      });
    const unhandled = await run('bare');
    expect(unhandled.err, 'without the handler: the EPIPE this guards against').toContain('EPIPE');
    expect(await run('handled')).toEqual({ code: 0, err: '' });
    expect(readFileSync(resolve('cli/main.ts'), 'utf8'), 'the command line installs it').toContain('installClosedPipeHandler();');
  });
});

describe('Ctrl-C', () => {
  it('lands between atomic writes: exit 130 and no temporary file', async () => {
    // A loop of large atomic writes, as a long export is; SIGINT arrives while it runs.
    const script = join(dir, 'writer.mjs');
    const common = resolve('dist/cli/common.js');
    const atomic = resolve('dist/src/io/atomic.js');
    const target = join(dir, 'big.bin');
    writeFileSync(
      script,
      `import { installInterruptHandler } from ${JSON.stringify(common)};
       import { replaceFileAtomic } from ${JSON.stringify(atomic)};
       installInterruptHandler();
       const data = new Uint8Array(64 << 20);
       for (let i = 0; ; i++) {
         replaceFileAtomic(${JSON.stringify(target)}, data);
         if (i === 0) process.stdout.write('ready\\n');
         await new Promise((r) => setImmediate(r));
       }`,
    );
    const r = await interruptWhen([script], /ready/);
    expect(r.code).toBe(130);
    expect(r.err).toContain('interrupted');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('stops a training before its first epoch ends and says that nothing was saved', async () => {
    const out = join(dir, 'interrupted-run');
    const r = await interruptWhen([BIN, 'train', TINY, '--data', 'synthetic', '--engine', 'ort', '--epochs', '3', '--out', out], /training on/);
    expect(r.code).toBe(130);
    expect(r.err).toContain('training interrupted before its first epoch ended; nothing was saved');
    expect(r.err).toContain(`start again with: sofar train ${TINY} --data synthetic --epochs 3 --engine ort --out ${out}\n`);
    expect(r.err).not.toContain('--resume');
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(false);
  });

  it('after an epoch, the hint is the command that resumes the run: every flag given, quoted for the shell', async () => {
    const out = join(dir, "Bob's run");
    const flags = ['--data', 'synthetic', '--epochs', '400', '--batch', '32', '--lr', '0.01', '--limit', '256', '--engine', 'ort'];
    const r = await interruptWhen([BIN, 'train', TINY, ...flags, '--out', out], /epoch 1\/400 {2}loss/);
    expect(r.code).toBe(130);
    expect(r.err).toContain(`continue with: sofar train ${TINY} ${flags.join(' ')} --out '${out.replace("'", "'\\''")}' --resume\n`);
  });
});

describe('mid-epoch checkpoints (--checkpoint-every)', () => {
  it('Ctrl-C keeps the latest checkpoint, the message says where it stands, and --resume finishes the run from it', async () => {
    const out = join(dir, 'every-step');
    const flags = ['--data', 'synthetic', '--batch', '32', '--limit', '256', '--engine', 'ort', '--checkpoint-every', '1'];
    const r = await interruptWhen([BIN, 'train', TINY, ...flags, '--epochs', '400', '--out', out], /epoch 1\/400 {2}loss/);
    expect(r.code).toBe(130);
    const meta = readCheckpoint(out).meta;
    // 8 steps an epoch: epoch 1's checkpoint at step 8, then one after every step of epoch 2.
    expect(meta.step).toBeGreaterThanOrEqual(8);
    expect(meta.step).toBeLessThan(16);
    expect(r.err).toContain(
      meta.step > 8 ? `training interrupted; the checkpoint of step ${meta.step} (within epoch 2) is saved in` : 'training interrupted; the last complete epoch (1) is saved in',
    );
    expect(r.err).toContain(`continue with: sofar train ${TINY} --data synthetic --epochs 400 --batch 32 --limit 256 --engine ort --checkpoint-every 1 --out ${out} --resume\n`);
    const resumed = sofar('train', TINY, '--epochs', '2', '--out', out, '--resume', '--json');
    expect(resumed.code, resumed.err).toBe(0);
    expect(JSON.parse(resumed.out.trim().split('\n').pop()!).epochs).toBe(2);
    expect(readCheckpoint(out).meta).toMatchObject({ epoch: 2, step: 16 });
  }, 60_000);
});

describe('usage and output forms', () => {
  it('no command is wrong usage (exit 2), --help is not', () => {
    const none = sofar();
    expect(none.code).toBe(2);
    expect(none.err).toContain('Usage: sofar');
    expect(sofar('--help').code).toBe(0);
  });

  it('train --momentum outside [0, 1) is wrong usage naming the flag', () => {
    const r = sofar('train', TINY, '--data', 'synthetic', '--optimizer', 'sgd', '--momentum', '2');
    expect(r.code).toBe(2);
    expect(r.err).toContain("--momentum expects a number in [0, 1), got '2'");
  });

  it('summary --json --no-layers drops the per-layer rows, keeping the totals', () => {
    const full = JSON.parse(sofar('summary', SPEC, '--json').out);
    const totals = JSON.parse(sofar('summary', SPEC, '--json', '--no-layers').out);
    expect(full.layers.length).toBeGreaterThan(0);
    expect(totals).not.toHaveProperty('layers');
    const { layers: _, ...expected } = full;
    expect(totals).toEqual(expected);
  });

  it('graph -f dot writes DOT line breaks, not a backslash and an n', () => {
    const dot = sofar('graph', SPEC, '-f', 'dot').out;
    expect(dot).toMatch(/label="input\\ninput\\nf32 1×28×28"/);
    expect(dot).not.toContain('\\\\n');
  });

  it('build of a model without binary layers does not claim packed kernels', () => {
    const spec = join(dir, 'float.sofar');
    writeFileSync(spec, 'model f {\n  input 1x8x8\n  classes 4\n  conv 3x3 4\n  global_avgpool\n  dense 4\n}\n');
    const r = sofar('build', spec, '--target', 'onnx', '-o', join(dir, 'f.onnx'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote .*f\.onnx \([\d.]+ KiB, no binary layers, weights: seeded init, seed 0\)/);
  });
});
