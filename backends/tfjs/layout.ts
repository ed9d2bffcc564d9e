/**
 * The NCHW ↔ NHWC boundary. The graph, its weights and every caller speak NCHW (conv kernels OIHW);
 * inside this backend feature maps are NHWC and conv kernels HWIO, as TensorFlow wants them. These
 * functions are the only place where layouts change.
 */
import type { ParamSpec } from '../../src/graph/types.js';
import type { Tensor, Tf } from './tf.js';

const OIHW_TO_HWIO = [2, 3, 1, 0];
const HWIO_TO_OIHW = [3, 2, 0, 1];

/** A parameter's values (graph layout, row-major) as a tensor in the backend's layout. */
export function paramToBackend(tf: Tf, spec: ParamSpec, values: Float32Array): Tensor {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) {
    throw new Error(`parameter '${spec.name}' has ${values.length} values, its shape ${spec.shape.join('×')} needs ${size}`);
  }
  return tf.tidy(() => {
    // A copy: the CPU backend would otherwise keep the caller's array as the tensor's storage.
    const t = tf.tensor(Float32Array.from(values), spec.shape, 'float32');
    return spec.shape.length === 4 ? tf.transpose(t, OIHW_TO_HWIO) : t;
  });
}

/** The inverse of paramToBackend: a backend tensor back to the graph's layout, row-major. */
export async function paramFromBackend(tf: Tf, spec: ParamSpec, t: Tensor): Promise<Float32Array> {
  const graphLayout = spec.shape.length === 4 ? tf.transpose(t, HWIO_TO_OIHW) : t;
  try {
    return Float32Array.from(await graphLayout.data());
  } finally {
    if (graphLayout !== t) graphLayout.dispose();
  }
}

/** The backend's shape of a parameter (conv kernels HWIO). */
export function backendShape(spec: ParamSpec): number[] {
  return spec.shape.length === 4 ? OIHW_TO_HWIO.map((axis) => spec.shape[axis]) : [...spec.shape];
}

/** A batch `[n, ...shape]` given NCHW (or `[n, F]`) as an NHWC tensor. */
export function activationsToBackend(tf: Tf, x: Float32Array, n: number, shape: readonly number[]): Tensor {
  const size = n * shape.reduce((a, b) => a * b, 1);
  if (x.length !== size) throw new Error(`expected ${size} values for a batch of ${n} × ${shape.join('×')}, got ${x.length}`);
  return tf.tidy(() => {
    const t = tf.tensor(x, [n, ...shape], 'float32');
    return shape.length === 3 ? tf.transpose(t, [0, 2, 3, 1]) : t;
  });
}

/** An NHWC (or `[n, F]`) tensor as NCHW values, row-major. */
export async function activationsFromBackend(tf: Tf, t: Tensor): Promise<Float32Array> {
  const nchw = t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t;
  try {
    return Float32Array.from(await nchw.data());
  } finally {
    if (nchw !== t) nchw.dispose();
  }
}

/** A per-sample graph shape `[C, H, W]` as the backend's `[H, W, C]`. */
export function sampleShapeToBackend(shape: readonly number[]): number[] {
  return shape.length === 3 ? [shape[1], shape[2], shape[0]] : [...shape];
}
