#!/usr/bin/env node
/**
 * A consumer's install of the packed package, offline (issue 24): `npm pack`, then `npm install
 * --offline` of the tarball into two temporary projects, from the npm cache the clone's `npm ci` filled.
 *
 *  - the runtime alone: `npm install sofar-X.tgz` must succeed with no network and no install script,
 *    stay small (no onnxruntime-node, TensorFlow.js, WebGPU), load the prebuilt native addon, run the
 *    bundled model through `sofar/runtime` and `sofar run --runtime sofar`, type-check under
 *    `moduleResolution: node10` and `nodenext`, and say which package `sofar train` lacks;
 *  - the full CLI: the tarball plus the optional dependencies at the versions SoFAr was measured with
 *    (package.json's peerDependencies) must build, run on onnxruntime-node and train a step.
 *
 * Offline, npm resolves from a lockfile: `npm ci` fills the cache with tarballs but not with the
 * registry's version lists, so each temporary project gets the lockfile a consumer's first online
 * install would write, taken from the clone's package-lock.json (the versions SoFAr was measured with)
 * for exactly the packages the project needs, and `npm install --offline` installs from it.
 *
 * Run after `npm run build` (`.ci/run` does): node scripts/check-install.mjs [--keep]. Exits 1 with what
 * failed. SOFAR_INSTALL_BUDGET_MB bounds the runtime-only node_modules (default 12; measured 10.7).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const budgetMb = Number(process.env.SOFAR_INSTALL_BUDGET_MB ?? 12);
const work = mkdtempSync(join(tmpdir(), 'sofar-install-'));
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
const run = (cmd, args, cwd, env = {}) => {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...env } });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
};
const sizeMb = (dir) => {
  let bytes = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) bytes += statSync(p).size;
    }
  };
  walk(dir);
  return bytes / 2 ** 20;
};

if (!existsSync(join(root, 'dist', 'backends', 'runtime', 'index.js'))) {
  console.error('check-install: build first (npm run build)');
  process.exit(1);
}

// The tarball, as `npm pack` makes it (prepack puts the prebuilt addon in; the build is already done).
execFileSync(process.execPath, [join(root, 'scripts', 'prebuild.mjs')], { stdio: 'inherit' });
const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }))[0];
const tarball = join(work, packed.filename);
const files = new Set(packed.files.map((f) => f.path));
const prebuilt = `prebuilds/${process.platform}-${process.arch}/sofar_kernels.napi.node`;
for (const f of [prebuilt, 'docs/operators.md', 'dist/web/sofar_kernels.wasm', 'native/wasm/sofar_kernels.wasm', 'dist/backends/runtime/worker.js']) check(files.has(f), `the tarball has ${f}`);
check(!packed.files.some((f) => f.path.startsWith('native/build/')), 'the tarball has no build folder of the clone');
check(!packed.files.some((f) => f.path.startsWith('dist/docs/')), 'the tarball has no API reference (dist/docs: npm run docs:api builds it)');
console.log(`     ${packed.filename}: ${(packed.size / 2 ** 20).toFixed(1)} MB packed, ${packed.entryCount} files`);

const cloneLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages;

/** Where Node finds `dep` from the package at `from` (a lockfile path), in the clone's tree. */
function resolveIn(from, dep) {
  for (let dir = from; ; dir = dir.includes('/node_modules/') ? dir.slice(0, dir.lastIndexOf('/node_modules/')) : '') {
    const path = `${dir ? `${dir}/` : ''}node_modules/${dep}`;
    if (cloneLock[path]) return path;
    if (!dir) return null;
  }
}

/** The clone's lockfile entries of everything `deps` need, as a consumer's lockfile has them. */
function lockedClosure(deps) {
  const out = {};
  const visit = (path) => {
    if (out[path]) return;
    const { dev, devOptional, peer, optional, ...entry } = cloneLock[path];
    out[path] = { ...entry, ...(optional || devOptional ? { optional: true } : {}) };
    const needs = { ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies };
    for (const dep of Object.keys(needs)) {
      const found = resolveIn(path, dep);
      if (found) visit(found);
      else if (!entry.optionalDependencies?.[dep] && !entry.peerDependenciesMeta?.[dep]?.optional) throw new Error(`the clone's lockfile has no ${dep} for ${path}`);
    }
  };
  for (const dep of deps) visit(resolveIn('', dep) ?? (() => { throw new Error(`the clone's lockfile has no ${dep}`); })());
  return out;
}

const integrity = (file) => `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;

/** A temporary project that depends on the tarball (and `extra` packages), with its lockfile. */
function project(name, extraDeps = [], fields = {}) {
  const dir = join(work, name);
  mkdirSync(dir);
  const spec = `file:../${packed.filename}`;
  const dependencies = { sofar: spec, ...Object.fromEntries(extraDeps.map((d) => [d, manifest.peerDependencies[d]])) };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: 'module', dependencies, ...fields }, null, 2));
  const { name: _n, version, dependencies: deps, peerDependencies, peerDependenciesMeta, bin, engines, license } = manifest;
  const packages = {
    '': { name: `consumer-${name}`, dependencies },
    'node_modules/sofar': { version, resolved: spec, integrity: integrity(tarball), license, dependencies: deps, bin, engines, peerDependencies, peerDependenciesMeta },
    ...lockedClosure([...Object.keys(deps), ...extraDeps]),
  };
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: `consumer-${name}`, lockfileVersion: 3, requires: true, packages }, null, 2));
  return dir;
}

// ------------------------------------------------------------------ the runtime alone
{
  // No dependency of the runtime has an install script: npm has nothing to ask or warn about.
  const dir = project('runtime');
  const install = run('npm', ['install', '--offline'], dir);
  check(install.status === 0, `npm install --offline ${packed.filename} (runtime alone)${install.status === 0 ? '' : `:\n${install.out}`}`);
  check(!/install-scripts|npm warn/i.test(install.out), `the install prints no warning${/npm warn/i.test(install.out) ? `:\n${install.out}` : ''}`);
  const mb = sizeMb(join(dir, 'node_modules'));
  console.log(`     node_modules: ${mb.toFixed(1)} MB`);
  check(mb < budgetMb, `node_modules is under ${budgetMb} MB (${mb.toFixed(1)} MB)`);
  for (const heavy of ['onnxruntime-node', '@tensorflow/tfjs', 'webgpu', '@resvg/resvg-js', 'elkjs']) check(!existsSync(join(dir, 'node_modules', heavy)), `${heavy} is not installed`);
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createRuntime, createRuntimeInWorker, modelInfo, topClassesOfRows } from 'sofar/runtime';
const model = readFileSync(createRequire(import.meta.url).resolve('sofar/package.json').replace('package.json', 'dist/web/models/bireal-small.onnx'));
const rt = createRuntime(model);
const info = modelInfo(rt.model);
const x = new Float32Array(2 * 784);
const top = topClassesOfRows(rt.run(x, 2), info.classNames, 1);
const worker = await createRuntimeInWorker(model);
const again = await worker.run(x, 2);
await worker.release();
console.log(JSON.stringify({ kernels: rt.kernels, rows: top.length, classes: info.classes, worker: again.length }));
`,
  );
  const app = run(process.execPath, ['app.mjs'], dir);
  check(app.status === 0 && /"kernels":"native/.test(app.out) && /"rows":2/.test(app.out) && /"worker":20/.test(app.out), `sofar/runtime runs the bundled model on the prebuilt native addon: ${app.out.trim()}`);
  const cli = run(join(dir, 'node_modules', '.bin', 'sofar'), ['run', join(dir, 'node_modules', 'sofar', 'dist', 'web', 'models', 'bireal-small.onnx'), '--runtime', 'sofar'], dir);
  check(cli.status === 0 && /logits \[1, 10\]/.test(cli.out), `sofar run --runtime sofar works without onnxruntime-node${cli.status === 0 ? '' : `:\n${cli.out}`}`);
  const spec = run(join(dir, 'node_modules', '.bin', 'sofar'), ['build', join(dir, 'node_modules', 'sofar', 'specs', 'fashion', 'bireal-small.sofar'), '--binary-ops', '-o', 'm.onnx'], dir);
  check(spec.status === 0 && existsSync(join(dir, 'm.onnx')), `sofar build --binary-ops works without onnxruntime-node${spec.status === 0 ? '' : `:\n${spec.out}`}`);
  // A standard export (what sofar train writes) runs on the runtime too, converted on load.
  run(join(dir, 'node_modules', '.bin', 'sofar'), ['build', join(dir, 'node_modules', 'sofar', 'specs', 'fashion', 'bireal-small.sofar'), '-o', 'standard.onnx'], dir);
  const standard = run(join(dir, 'node_modules', '.bin', 'sofar'), ['run', 'standard.onnx', '--runtime', 'sofar'], dir);
  check(standard.status === 0 && /converted on load/.test(standard.out), `sofar run --runtime sofar converts a standard export on load${standard.status === 0 ? '' : `:\n${standard.out}`}`);
  const train = run(join(dir, 'node_modules', '.bin', 'sofar'), ['train', join(dir, 'node_modules', 'sofar', 'specs', 'fashion', 'bireal-small.sofar'), '--data', 'synthetic', '--epochs', '1'], dir);
  check(train.status === 1 && /needs onnxruntime-node, an optional dependency/.test(train.out) && /npm install onnxruntime-node@1\.23\.2/.test(train.out), `sofar train names the missing optional dependency: ${train.out.trim().split('\n').slice(0, 2).join(' / ')}`);
  // Types: node10 resolves through typesVersions, nodenext through exports.
  writeFileSync(join(dir, 'types.ts'), `import { createRuntime, modelInfo, type BinaryRuntime } from 'sofar/runtime';\nimport { loadRuntime } from 'sofar/web';\nexport const f: (b: Uint8Array) => BinaryRuntime = (b) => createRuntime(b);\nexport { modelInfo, loadRuntime };\n`);
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const typeRoots = join(root, 'node_modules', '@types');
  for (const [resolution, module] of [['node10', 'commonjs'], ['nodenext', 'nodenext'], ['bundler', 'esnext']]) {
    const r = run(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'es2022', '--module', module, '--moduleResolution', resolution, '--typeRoots', typeRoots, '--types', 'node', 'types.ts'], dir);
    check(r.status === 0, `the types resolve under moduleResolution ${resolution}${r.status === 0 ? '' : `:\n${r.out}`}`);
  }
}

// ------------------------------------------------------------------ the full CLI
{
  const peers = Object.entries(manifest.peerDependencies).filter(([name]) => !name.startsWith('@tensorflow/tfjs-node'));
  // The consumer decides about onnxruntime-node's install script (it would fetch CUDA files): denied.
  const dir = project('full', peers.map(([name]) => name), { allowScripts: { 'onnxruntime-node': false, webgpu: true } });
  const install = run('npm', ['install', '--offline'], dir);
  check(install.status === 0, `npm install --offline ${packed.filename} ${peers.map(([n, v]) => `${n}@${v}`).join(' ')}${install.status === 0 ? '' : `:\n${install.out}`}`);
  for (const [name, version] of peers) {
    const got = existsSync(join(dir, 'node_modules', name, 'package.json')) ? JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version : 'missing';
    check(got === version, `${name} is the measured version ${version} (${got})`);
  }
  const sofar = join(dir, 'node_modules', '.bin', 'sofar');
  const spec = join(dir, 'node_modules', 'sofar', 'specs', 'fashion', 'bireal-small.sofar');
  const ort = run(sofar, ['run', spec], dir);
  check(ort.status === 0 && /onnxruntime-node/.test(ort.out), `sofar run SPEC on onnxruntime-node${ort.status === 0 ? '' : `:\n${ort.out}`}`);
  const train = run(sofar, ['train', spec, '--data', 'synthetic', '--epochs', '1', '--limit', '64', '--batch', '32', '--out', join(dir, 'run')], dir);
  check(train.status === 0 && existsSync(join(dir, 'run', 'model.onnx')), `sofar train a step on onnxruntime-node${train.status === 0 ? '' : `:\n${train.out}`}`);
  const tfjs = run(sofar, ['run', spec, '--runtime', 'tfjs'], dir);
  check(tfjs.status === 0, `sofar run SPEC --runtime tfjs${tfjs.status === 0 ? '' : `:\n${tfjs.out}`}`);
}

if (process.argv.includes('--keep')) console.log(`kept ${work}`);
else rmSync(work, { recursive: true, force: true });
if (failures.length) {
  console.error(`check-install: ${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('check-install: the packed package installs offline, lean for the runtime and whole for the CLI');
