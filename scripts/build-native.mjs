#!/usr/bin/env node
/**
 * Builds the native kernels (native/binding.gyp -> native/build/Release/sofar_kernels.node) with node-gyp.
 * Run by the clone's prepare script (`npm ci`), and by hand in an installed package that has no prebuilt
 * addon for its platform (`node node_modules/sofar/scripts/build-native.mjs`): an installed package runs
 * no install script; it loads prebuilds/<platform>-<arch>/ (scripts/prebuild.mjs), and a build from
 * source, when there is one, comes first.
 *
 * The addon is optional: when the build fails (no C compiler, no Node headers, an unsupported platform)
 * this prints one warning line, writes the reason to native/build/UNAVAILABLE.txt (the runtime shows it
 * and falls back to the WebAssembly kernels) and exits 0.
 *
 * node-gyp: the one npm runs lifecycle scripts with ($npm_config_node_gyp), else npm's bundled one next to
 * this Node, else `node-gyp` on PATH, else `npx --yes node-gyp`. Node's headers: the running Node's own
 * (<prefix>/include/node, as in official tarballs and distribution packages), so no download is needed;
 * otherwise node-gyp fetches them. SOFAR_SKIP_NATIVE=1 skips the build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const nativeDir = join(root, 'native');
const buildDir = join(nativeDir, 'build');
const note = join(buildDir, 'UNAVAILABLE.txt');

function unavailable(reason) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(note, `${reason}\n`);
  console.warn(`sofar: native kernels not built (${reason.split('\n')[0]}); the WebAssembly kernels and onnxruntime still work`);
  process.exit(0);
}

if (process.env.SOFAR_SKIP_NATIVE === '1') unavailable('skipped (SOFAR_SKIP_NATIVE=1)');
if (!existsSync(join(nativeDir, 'binding.gyp'))) unavailable('native/binding.gyp is missing from this package');

/** Candidate commands: [executable, leading args]. */
function nodeGypCommands() {
  const out = [];
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) out.push(fromNpm.endsWith('.js') ? [process.execPath, [fromNpm]] : [fromNpm, []]);
  const prefix = dirname(dirname(process.execPath));
  for (const lib of [join(prefix, 'lib', 'node_modules'), join(dirname(process.execPath), 'node_modules'), '/usr/share/nodejs']) {
    const js = join(lib, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(js)) out.push([process.execPath, [js]]);
  }
  out.push(['node-gyp', []]);
  out.push(['npx', ['--yes', 'node-gyp']]);
  return out;
}

function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  const inc = join(prefix, 'include', 'node');
  return existsSync(join(inc, 'common.gypi')) && existsSync(join(inc, 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

const args = ['rebuild', `--directory=${nativeDir}`, ...nodedirArgs()];
let lastError = 'node-gyp was not found';
for (const [cmd, lead] of nodeGypCommands()) {
  const r = spawnSync(cmd, [...lead, ...args], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    shell: process.platform === 'win32',
  });
  if (r.error) {
    lastError = `${cmd}: ${r.error.message}`;
    continue; // not found: try the next
  }
  if (r.status === 0 && existsSync(join(buildDir, 'Release', 'sofar_kernels.node'))) {
    rmSync(note, { force: true });
    process.exit(0);
  }
  const log = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const errors = log
    .split('\n')
    .filter((l) => /error|not found|cannot|No such/i.test(l) && !/^gyp (info|verb)/.test(l))
    .slice(0, 6)
    .join('\n');
  unavailable(`node-gyp failed (exit ${r.status ?? r.signal}): ${errors || log.trim().split('\n').slice(-6).join('\n')}`);
}
unavailable(lastError);
