/**
 * Which TensorFlow.js package and backend computes: `@tensorflow/tfjs-node-gpu` (CUDA) when installed,
 * else `@tensorflow/tfjs-backend-webgpu` on a hardware WebGPU adapter, else `@tensorflow/tfjs-node`
 * (native CPU), else `@tensorflow/tfjs` (pure JavaScript, slow, with a warning). The native packages are
 * optional peers; the module lookup and the adapter search are injectable so tests can stand in for them.
 */
import { SofarError } from '../../src/diagnostics.js';
import type { Tf } from './tf.js';
import { importModule, type ModuleResolver } from '../modules.js';
import { adapterName, decideWebGpu, deviceError, findWebGpuAdapter, installWebGpuGlobals, probeWebGpuAdapter, type AdapterFinder, type DeviceRequest, type WebGpuAdapter, type WebGpuProbe, WEBGPU_SETUP_HINT } from '../webgpu/adapter.js';

export { importModule, type ModuleResolver, type DeviceRequest };

export const TFJS_PACKAGES = {
  gpu: '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  js: '@tensorflow/tfjs',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
} as const;

export type TfjsPackage = (typeof TFJS_PACKAGES)[keyof typeof TFJS_PACKAGES];

export interface TfjsSelectOptions {
  device: DeviceRequest;
  resolve?: ModuleResolver;
  /** Looks for a WebGPU adapter (default: Dawn's `webgpu` package, in a child process). */
  findAdapter?: AdapterFinder;
}

export interface TfjsSelection {
  tf: Tf;
  /** The tfjs backend in use: `tensorflow` (native), `webgpu` or `cpu` (pure JS). */
  backendName: string;
  device: 'gpu' | 'webgpu' | 'cpu';
  package: TfjsPackage;
  /** The WebGPU adapter, on the `webgpu` backend. */
  adapter?: WebGpuAdapter;
  /** Something the user should know (the slow pure-JS path, a native package that failed to load). */
  warning?: string;
}

/** How an engine names where it computes: `webgpu (llvmpipe: Mesa 25.0.7 …, software)`, `cpu`, ... */
export function selectionDevice(s: Pick<TfjsSelection, 'backendName' | 'device' | 'package' | 'adapter'>): string {
  if (s.adapter) return `webgpu (${adapterName(s.adapter)}; ${s.package})`;
  return `${s.device} (${s.package}, backend '${s.backendName}')`;
}

export const GPU_SETUP_HINT =
  'a GPU is reached through WebGPU (a Vulkan, Metal or D3D12 driver) or, for CUDA, through @tensorflow/tfjs-node-gpu ' +
  '(Linux x86-64, an NVIDIA driver, CUDA 11.2 and cuDNN 8.1); see backends/tfjs/README.md';

const PURE_JS_WARNING =
  'using the pure-JavaScript TensorFlow.js CPU backend, which is very slow (training most of all); ' +
  'install @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA), or use a WebGPU adapter, to speed it up';

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

async function activate(tf: Tf, backendName: string, name: TfjsPackage): Promise<void> {
  const ok = await tf.setBackend(backendName);
  if (!ok) throw deviceError(`${name} could not start its '${backendName}' backend`, "use the CPU instead (device 'cpu', --device cpu), or reinstall the package");
  await tf.ready();
}

/** Pure-JS tfjs with its WebGPU backend registered and started on the adapter `decideWebGpu` found. */
async function startWebGpu(resolve: ModuleResolver, found: WebGpuProbe): Promise<TfjsSelection> {
  const js = await load(resolve, TFJS_PACKAGES.js);
  if (!js.tf) throw deviceError(js.failure ?? `${TFJS_PACKAGES.js} is not installed`, 'reinstall SoFAr: @tensorflow/tfjs is one of its dependencies');
  // The decision may come from a child process; tfjs needs the adapter's objects in this one.
  const probe = found.gpu ? found : await findWebGpuAdapter(resolve);
  const adapter = probe.adapter;
  if (!adapter) throw deviceError(`no WebGPU adapter in this process: ${probe.failure ?? 'none found'}`, WEBGPU_SETUP_HINT);
  installWebGpuGlobals(probe);
  try {
    // Registers the 'webgpu' backend with the tfjs-core that @tensorflow/tfjs uses.
    if ((await resolve(TFJS_PACKAGES.webgpu)) === undefined) throw new Error('it is not installed');
  } catch (e) {
    throw deviceError(`${TFJS_PACKAGES.webgpu} failed to load: ${e instanceof Error ? e.message : String(e)}`, 'reinstall SoFAr: it is one of its dependencies');
  }
  js.tf.env().set('PROD', true);
  await activate(js.tf, 'webgpu', TFJS_PACKAGES.webgpu);
  return { tf: js.tf, backendName: 'webgpu', device: 'webgpu', package: TFJS_PACKAGES.webgpu, adapter };
}

/**
 * Picks and starts a TensorFlow.js package for the requested device:
 * - `gpu`: tfjs-node-gpu, else a hardware WebGPU adapter, else a clear error;
 * - `webgpu`: the WebGPU backend on any adapter (a software one included), or a clear error;
 * - `cpu`: tfjs-node, else pure JS with a warning;
 * - `auto`: tfjs-node-gpu, else a hardware WebGPU adapter, else tfjs-node, else pure JS with a warning.
 */
export async function selectTfjs(options: TfjsSelectOptions): Promise<TfjsSelection> {
  const resolve = options.resolve ?? importModule;
  const find = options.findAdapter ?? probeWebGpuAdapter;
  const notes: string[] = [];

  if (options.device === 'gpu' || options.device === 'auto') {
    const gpu = await load(resolve, TFJS_PACKAGES.gpu);
    if (gpu.tf) {
      await activate(gpu.tf, 'tensorflow', TFJS_PACKAGES.gpu);
      return { tf: gpu.tf, backendName: 'tensorflow', device: 'gpu', package: TFJS_PACKAGES.gpu };
    }
    if (gpu.failure) notes.push(gpu.failure);
  }

  if (options.device !== 'cpu') {
    let decision;
    try {
      decision = await decideWebGpu(options.device, find);
    } catch (e) {
      // --device gpu: say why neither route to a GPU is open.
      if (options.device === 'gpu' && e instanceof SofarError) {
        const why = notes.length ? notes.join('; ') : `${TFJS_PACKAGES.gpu} (CUDA) is not installed`;
        throw deviceError(`${e.diagnostics[0].message}; and ${why}`, `${e.diagnostics[0].hint}; for CUDA, @tensorflow/tfjs-node-gpu (see backends/tfjs/README.md)`);
      }
      throw e;
    }
    if (decision.probe) return withWarning(await startWebGpu(resolve, decision.probe), notes);
    if (decision.note) notes.push(decision.note);
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
