/**
 * WebGPU in Node through Dawn (the `webgpu` npm package, whose native binary ships inside the package):
 * finding an adapter, telling a hardware GPU from a software rasteriser, and the device policy shared by
 * both engines — `cpu`, `webgpu` (any adapter, a software one included), `gpu` (a hardware GPU only) and
 * `auto` (a hardware adapter when there is one, else the CPU). onnxruntime-node carries its own Dawn;
 * this probe goes through the same system driver (Vulkan, Metal or D3D12), so it finds the adapter ORT
 * would use.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { error, SofarError } from '../../src/diagnostics.js';
import { importModule, type ModuleResolver } from '../modules.js';

export const WEBGPU_PACKAGE = 'webgpu';

/** What SoFAr knows of an adapter, and how it names it in device lines and metrics. */
export interface WebGpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU rasteriser (Mesa's llvmpipe or lavapipe, SwiftShader, WARP): it proves the code path, not speed. */
  software: boolean;
}

/** A found adapter with the objects that reach it, or why there is none. */
export interface WebGpuProbe {
  adapter?: WebGpuAdapter;
  /** `navigator.gpu` for tfjs-backend-webgpu. */
  gpu?: unknown;
  /** WebGPU's classes and constants (GPUBufferUsage, ...), which tfjs-backend-webgpu reads from the global scope. */
  globals?: Record<string, unknown>;
  failure?: string;
}

export type AdapterFinder = () => Promise<WebGpuProbe>;

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe|basic render driver|\bsoftware\b|\bcpu\b/i;

export function describeAdapterInfo(info: AdapterInfoLike, fallback = false): WebGpuAdapter {
  const [vendor, architecture, device, description] = [info.vendor, info.architecture, info.device, info.description].map((s) => (s ?? '').trim());
  const software = fallback || info.isFallbackAdapter === true || SOFTWARE.test([vendor, architecture, device, description].join(' '));
  return { vendor, architecture, device, description, software };
}

/** `llvmpipe: Mesa 25.0.7 (LLVM 15.0.6), software` — what device lines show in parentheses. */
export function adapterName(a: WebGpuAdapter): string {
  const name = a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unnamed adapter';
  return a.software ? `${name}, software` : name;
}

/** Loads Dawn and asks it for an adapter; never throws (a failure is reported in `failure`). */
export async function findWebGpuAdapter(resolve: ModuleResolver = importModule): Promise<WebGpuProbe> {
  let module: { create?: (flags: string[]) => unknown; globals?: Record<string, unknown> } | undefined;
  try {
    module = (await resolve(WEBGPU_PACKAGE)) as typeof module;
  } catch (e) {
    return { failure: `the ${WEBGPU_PACKAGE} package (Dawn) failed to load: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!module || typeof module.create !== 'function') return { failure: `the ${WEBGPU_PACKAGE} package (Dawn) is not installed` };
  try {
    const gpu = module.create([]) as { requestAdapter(o?: object): Promise<unknown> };
    const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) as { info?: AdapterInfoLike; isFallbackAdapter?: boolean } | null;
    if (!adapter) return { failure: 'Dawn found no WebGPU adapter (no Vulkan, Metal or D3D12 driver it accepts)' };
    return { adapter: describeAdapterInfo(adapter.info ?? {}, adapter.isFallbackAdapter === true), gpu, globals: module.globals ?? {} };
  } catch (e) {
    return { failure: `Dawn could not look for a WebGPU adapter: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * The adapter, looked for in a child process: Dawn prints its own warnings on stderr when it opens an
 * adapter (llvmpipe: "maxDynamicUniformBuffersPerPipelineLayout artificially reduced ..."), which a run
 * that ends up on the CPU should not show. Costs a Node start-up (~0.2 s). Never throws.
 */
export async function probeWebGpuAdapter(): Promise<WebGpuProbe> {
  let url: string;
  try {
    url = pathToFileURL(createRequire(import.meta.url).resolve(WEBGPU_PACKAGE)).href;
  } catch {
    return { failure: `the ${WEBGPU_PACKAGE} package (Dawn) is not installed` };
  }
  const script = `
    const m = await import(${JSON.stringify(url)});
    const a = await m.create([]).requestAdapter({ powerPreference: 'high-performance' });
    const i = a?.info ?? {};
    process.stdout.write(JSON.stringify(a ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter === true || a.isFallbackAdapter === true } : null));
    process.exit(0);`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  if (child.status !== 0) {
    const why = child.error?.message ?? (child.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning:')).pop() || `exit status ${child.status}`);
    return { failure: `Dawn could not look for a WebGPU adapter: ${why}` };
  }
  const info = JSON.parse(child.stdout || 'null') as AdapterInfoLike | null;
  return info ? { adapter: describeAdapterInfo(info) } : { failure: 'Dawn found no WebGPU adapter (no Vulkan, Metal or D3D12 driver it accepts)' };
}

/** Makes `navigator.gpu` and WebGPU's globals visible to code written for browsers (tfjs-backend-webgpu). */
export function installWebGpuGlobals(probe: WebGpuProbe): void {
  const scope = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(probe.globals ?? {})) if (!(name in scope)) scope[name] = value;
  const nav = scope.navigator as Record<string, unknown> | undefined;
  if (nav === undefined) scope.navigator = { gpu: probe.gpu };
  else if (!nav.gpu) Object.defineProperty(nav, 'gpu', { value: probe.gpu, configurable: true });
}

export type DeviceRequest = 'auto' | 'gpu' | 'webgpu' | 'cpu';

export const WEBGPU_SETUP_HINT =
  'WebGPU needs a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver; on Debian/Ubuntu install Mesa ≥ 25 ' +
  '(apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1), or use --device cpu';

export function deviceError(message: string, hint: string): SofarError {
  return new SofarError([error('device', message, undefined, hint)]);
}

/** The WebGPU adapter a request gets, if any: what the ORT engine and `run`/`bench`/`eval` use. */
export interface WebGpuDecision {
  adapter?: WebGpuAdapter;
  probe?: WebGpuProbe;
  /** Something the user should know (a software adapter that `auto` passed over). */
  note?: string;
}

/**
 * - `cpu`: no adapter;
 * - `webgpu`: any adapter, software included, or an error saying why there is none;
 * - `gpu`: a hardware adapter, or an error (none, or only a software one);
 * - `auto`: a hardware adapter, else none (with a note when a software one was passed over).
 */
export async function decideWebGpu(request: DeviceRequest, find: AdapterFinder = probeWebGpuAdapter): Promise<WebGpuDecision> {
  if (request === 'cpu') return {};
  const probe = await find();
  const adapter = probe.adapter;
  if (request === 'webgpu') {
    if (!adapter) throw deviceError(`--device webgpu: no WebGPU adapter: ${probe.failure ?? 'none found'}`, WEBGPU_SETUP_HINT);
    return { adapter, probe };
  }
  if (adapter && !adapter.software) return { adapter, probe };
  if (request === 'gpu') {
    if (adapter) {
      throw deviceError(
        `--device gpu: the only WebGPU adapter is a software rasteriser (${adapterName(adapter)}), not a GPU`,
        'use --device webgpu to run on it anyway (slow: it proves the code path), or --device cpu',
      );
    }
    throw deviceError(`--device gpu: no GPU: ${probe.failure ?? 'no WebGPU adapter found'}`, WEBGPU_SETUP_HINT);
  }
  return adapter ? { note: `the only WebGPU adapter is a software rasteriser (${adapterName(adapter)}); using the CPU (--device webgpu would use it)` } : {};
}
