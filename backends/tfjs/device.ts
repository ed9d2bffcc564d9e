/**
 * Which TensorFlow.js package computes: `@tensorflow/tfjs-node-gpu` (CUDA) when installed, else
 * `@tensorflow/tfjs-node` (native CPU), else `@tensorflow/tfjs` (pure JavaScript, slow, with a warning).
 * The native packages are optional peers; the module lookup is injectable so tests can stand in for them.
 */
import { error, SofarError } from '../../src/diagnostics.js';
import type { Tf } from './tf.js';

export type DeviceRequest = 'auto' | 'gpu' | 'cpu';

export const TFJS_PACKAGES = {
  gpu: '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  js: '@tensorflow/tfjs',
} as const;

export type TfjsPackage = (typeof TFJS_PACKAGES)[keyof typeof TFJS_PACKAGES];

/** Loads a package by name: its module, or undefined when it is not installed. May throw when it is installed but broken. */
export type ModuleResolver = (name: string) => Promise<unknown | undefined>;

export interface TfjsSelectOptions {
  device: DeviceRequest;
  resolve?: ModuleResolver;
}

export interface TfjsSelection {
  tf: Tf;
  /** The tfjs backend in use: `tensorflow` (native) or `cpu` (pure JS). */
  backendName: string;
  device: 'gpu' | 'cpu';
  package: TfjsPackage;
  /** Something the user should know (the slow pure-JS path, a native package that failed to load). */
  warning?: string;
}

export const GPU_SETUP_HINT =
  'install it with `npm install @tensorflow/tfjs-node-gpu` on Linux x86-64 with an NVIDIA driver, CUDA 11.2 and cuDNN 8.1 ' +
  '(the versions tfjs-node-gpu 4.x is built against); see backends/tfjs/README.md';

const PURE_JS_WARNING =
  'using the pure-JavaScript TensorFlow.js CPU backend, which is very slow (training most of all); ' +
  'install @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA) to speed it up';

/** Node's own lookup: a missing package gives undefined, a broken one throws. */
export const importModule: ModuleResolver = async (name) => {
  try {
    return await import(name);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const message = e instanceof Error ? e.message : String(e);
    // Only the package itself being absent counts as "not installed"; a missing dependency of it is breakage.
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(`'${name}'`)) return undefined;
    throw e;
  }
};

/** The tfjs API of a loaded module: CommonJS packages may arrive under `default`. */
function asTf(module: unknown): Tf | undefined {
  for (const candidate of [module, (module as { default?: unknown } | undefined)?.default]) {
    const c = candidate as Partial<Tf> | undefined;
    if (c && typeof c.tensor === 'function' && typeof c.setBackend === 'function' && c.layers) return c as Tf;
  }
  return undefined;
}

interface Loaded {
  tf?: Tf;
  failure?: string;
}

async function load(resolve: ModuleResolver, name: TfjsPackage): Promise<Loaded> {
  try {
    const module = await resolve(name);
    if (module === undefined) return {};
    const tf = asTf(module);
    return tf ? { tf } : { failure: `${name} loaded but does not look like TensorFlow.js` };
  } catch (e) {
    return { failure: `${name} is installed but failed to load: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function deviceError(message: string, hint: string): SofarError {
  return new SofarError([error('device', message, undefined, hint)]);
}

async function activate(tf: Tf, backendName: string, name: TfjsPackage): Promise<void> {
  const ok = await tf.setBackend(backendName);
  if (!ok) throw deviceError(`${name} could not start its '${backendName}' backend`, "use the CPU instead (device 'cpu', --device cpu), or reinstall the package");
  await tf.ready();
}

/**
 * Picks and starts a TensorFlow.js package for the requested device:
 * - `gpu`: tfjs-node-gpu, or a clear error when it is missing or broken;
 * - `cpu`: tfjs-node, else pure JS with a warning;
 * - `auto`: tfjs-node-gpu, else tfjs-node, else pure JS with a warning.
 */
export async function selectTfjs(options: TfjsSelectOptions): Promise<TfjsSelection> {
  const resolve = options.resolve ?? importModule;
  const notes: string[] = [];

  if (options.device === 'gpu' || options.device === 'auto') {
    const gpu = await load(resolve, TFJS_PACKAGES.gpu);
    if (gpu.tf) {
      await activate(gpu.tf, 'tensorflow', TFJS_PACKAGES.gpu);
      return { tf: gpu.tf, backendName: 'tensorflow', device: 'gpu', package: TFJS_PACKAGES.gpu };
    }
    if (options.device === 'gpu') {
      throw deviceError(gpu.failure ?? `a GPU (device 'gpu', --device gpu on the command line) needs ${TFJS_PACKAGES.gpu}, which is not installed`, GPU_SETUP_HINT);
    }
    if (gpu.failure) notes.push(gpu.failure);
  }

  const node = await load(resolve, TFJS_PACKAGES.node);
  if (node.tf) {
    await activate(node.tf, 'tensorflow', TFJS_PACKAGES.node);
    return withWarning({ tf: node.tf, backendName: 'tensorflow', device: 'cpu', package: TFJS_PACKAGES.node }, notes);
  }
  if (node.failure) notes.push(node.failure);

  const js = await load(resolve, TFJS_PACKAGES.js);
  if (!js.tf) throw deviceError(js.failure ?? `${TFJS_PACKAGES.js} is not installed`, 'reinstall SoFAr: @tensorflow/tfjs is one of its dependencies');
  // Our warning replaces tfjs' own console message about the Node backend.
  js.tf.env().set('PROD', true);
  await activate(js.tf, 'cpu', TFJS_PACKAGES.js);
  return withWarning({ tf: js.tf, backendName: 'cpu', device: 'cpu', package: TFJS_PACKAGES.js }, [...notes, PURE_JS_WARNING]);
}

function withWarning(selection: TfjsSelection, notes: string[]): TfjsSelection {
  return notes.length ? { ...selection, warning: notes.join('; ') } : selection;
}
