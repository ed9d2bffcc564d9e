/**
 * The device policy (backends/webgpu/adapter.ts) with stand-in adapter searches: no adapter, only a
 * software rasteriser, a hardware GPU; and how adapters are told apart.
 */
import { describe, expect, it } from 'vitest';
import { adapterName, decideWebGpu, describeAdapterInfo, type AdapterFinder } from '../../backends/webgpu/adapter.js';
import { SofarError } from '../../src/diagnostics.js';

const llvmpipe = describeAdapterInfo({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', isFallbackAdapter: true });
const a100 = describeAdapterInfo({ vendor: 'nvidia', architecture: 'ampere', device: 'NVIDIA A100-SXM4-80GB', description: 'NVIDIA A100-SXM4-80GB' });
const none: AdapterFinder = async () => ({ failure: 'Dawn found no WebGPU adapter (no Vulkan, Metal or D3D12 driver it accepts)' });
const software: AdapterFinder = async () => ({ adapter: llvmpipe });
const hardware: AdapterFinder = async () => ({ adapter: a100 });

async function failure(p: Promise<unknown>) {
  const e = await p.catch((x: unknown) => x);
  expect(e).toBeInstanceOf(SofarError);
  return (e as SofarError).diagnostics[0];
}

describe('WebGPU adapters', () => {
  it('tells software rasterisers from GPUs by the fallback flag or by name', () => {
    expect(llvmpipe.software).toBe(true);
    expect(a100.software).toBe(false);
    // Without the flag, the names give them away (Mesa's lavapipe, SwiftShader, Windows' WARP).
    for (const description of ['llvmpipe (LLVM 17)', 'SwiftShader Device (Subzero)', 'Microsoft Basic Render Driver', 'lavapipe']) {
      expect(describeAdapterInfo({ description }).software, description).toBe(true);
    }
    expect(describeAdapterInfo({ vendor: 'apple', architecture: 'metal-3', description: 'Apple M2' }).software).toBe(false);
    expect(adapterName(llvmpipe)).toBe('llvmpipe: Mesa 25.0.7 (LLVM 15.0.6), software');
    expect(adapterName(describeAdapterInfo({ vendor: 'amd', architecture: 'rdna-3' }))).toBe('amd rdna-3');
  });

  it('cpu never looks; auto takes hardware only; webgpu takes any adapter; gpu wants hardware', async () => {
    const never: AdapterFinder = async () => {
      throw new Error('cpu must not look for an adapter');
    };
    expect(await decideWebGpu('cpu', never)).toEqual({});
    expect((await decideWebGpu('auto', hardware)).adapter).toBe(a100);
    expect((await decideWebGpu('gpu', hardware)).adapter).toBe(a100);
    expect((await decideWebGpu('webgpu', software)).adapter).toBe(llvmpipe);
    const passed = await decideWebGpu('auto', software);
    expect(passed.adapter).toBeUndefined();
    expect(passed.note).toMatch(/software rasteriser \(llvmpipe: Mesa 25\.0\.7 \(LLVM 15\.0\.6\), software\); using the CPU/);
    expect(await decideWebGpu('auto', none)).toEqual({});
  });

  it('says why when the device asked for is not there', async () => {
    const noAdapter = await failure(decideWebGpu('webgpu', none));
    expect(noAdapter.message).toBe('--device webgpu: no WebGPU adapter: Dawn found no WebGPU adapter (no Vulkan, Metal or D3D12 driver it accepts)');
    expect(noAdapter.hint).toMatch(/mesa-vulkan-drivers/);
    const softwareOnly = await failure(decideWebGpu('gpu', software));
    expect(softwareOnly.message).toMatch(/^--device gpu: the only WebGPU adapter is a software rasteriser \(llvmpipe.*\), not a GPU$/);
    expect(softwareOnly.hint).toMatch(/--device webgpu/);
    expect((await failure(decideWebGpu('gpu', none))).message).toMatch(/^--device gpu: no GPU: Dawn found no WebGPU adapter/);
  });
});
