#!/usr/bin/env node
/**
 * Before `npm pack` / `npm publish` (the prepack script): puts the native addon built here into
 * prebuilds/<platform>-<arch>/sofar_kernels.napi.node (node-gyp-build's layout), so that an installed
 * package loads it without any install script. The addon uses Node-API only, so one build serves every
 * Node version of that platform. Only this machine's platform can be built here; elsewhere the runtime
 * falls back to the WebAssembly kernels with a note (or builds from source when asked:
 * `node node_modules/sofar/scripts/build-native.mjs`).
 */
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const built = join(root, 'native', 'build', 'Release', 'sofar_kernels.node');
const target = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'sofar_kernels.napi.node');

rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
if (!existsSync(built)) {
  console.warn(`sofar: no native addon at ${built}; the package ships without prebuilt kernels (build them: node scripts/build-native.mjs)`);
  process.exit(0);
}
// A broken build must not ship: load it once.
createRequire(import.meta.url)(built);
mkdirSync(dirname(target), { recursive: true });
copyFileSync(built, target);
console.log(`sofar: prebuilt native kernels for ${process.platform}-${process.arch} in ${target}`);
