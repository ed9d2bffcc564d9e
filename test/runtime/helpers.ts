/** The native kernels for the runtime tests: skipped (with a warning) where the addon is not built, required in CI. */
import { loadNativeKernels, type KernelSet } from '../../backends/runtime/kernels.js';
import { skipWithout } from '../helpers/requirements.js';

export function nativeMissing(): string | null {
  const loaded = loadNativeKernels();
  return 'unavailable' in loaded ? loaded.unavailable : null;
}

export const skipNative = (): boolean => skipWithout(nativeMissing());

export function nativeKernels(): KernelSet {
  const loaded = loadNativeKernels();
  if ('unavailable' in loaded) throw new Error(loaded.unavailable);
  return loaded.kernels;
}
