/**
 * Hand-written graphs of the constructs of today's binary nets (onnx-graphs.ts builds each twice: with
 * SoFAr's binary operators for the runtime, with standard ones for onnxruntime). Shared by the agreement
 * test (constructs.test.ts) and the loader's fuzzing (fuzz.test.ts).
 */
import type { TestGraph } from './onnx-graphs.js';

const BLUR = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16);

/** Graphs as [input shape, builder]; each returns its logits and class count. */
export const CONSTRUCT_GRAPHS: Record<string, [[number, number, number], (t: TestGraph) => { output: string; classes: number }]> = {
  'QuickNet-style stem: depthwise convs, a fixed blur pool, MaxPool 2x2 /1, grouped 1x1, conv → relu → bn → add': [[3, 17, 16], (t) => {
    let y = t.op('Relu', [t.conv(t.x, 3, 8, 3, { stride: 2, pads: [1, 1, 1, 1] })]);
    y = t.batchnorm(t.conv(y, 8, 8, 3, { stride: 2, pads: [1, 1, 1, 1], group: 8, bias: false }), 8);
    const blur = t.conv(y, 8, 8, 3, { stride: 1, pads: [1, 1, 1, 1], group: 8, bias: false, weights: Array.from({ length: 8 }, () => BLUR).flat() });
    y = t.op('MaxPool', [blur], { kernel_shape: [2, 2], strides: [1, 1], pads: [0, 0, 1, 1] });
    // QuickNet's residual order: conv → relu → bn → add
    const branch = t.batchnorm(t.op('Relu', [t.conv(y, 8, 8, 3, { pads: [1, 1, 1, 1] })]), 8);
    y = t.op('Add', [branch, y]);
    y = t.conv(y, 8, 12, 1, { group: 4 });
    y = t.conv(y, 12, 12, 5, { pads: [2, 1, 2, 3], group: 12 }); // depthwise 5x5, asymmetric pads
    return { output: t.head(y, 12, 7), classes: 7 };
  }],

  'bias, PReLU, squeeze-and-excite (Unsqueeze and Reshape), DoReFa 2-bit rounding, Sub, Mul, Sum': [[4, 6, 7], (t) => {
    let y = t.conv(t.x, 4, 10, 3, { pads: [1, 1, 1, 1] });
    y = t.op('Add', [y, t.weight([10, 1, 1])]);
    y = t.op('PRelu', [y, t.weight([10, 1, 1], undefined, 0, 0.5)]);
    const squeeze = (x: string, reshape: boolean) => {
      const flat = t.op('Flatten', [t.op('GlobalAveragePool', [x])], { axis: 1 });
      const hidden = t.op('Relu', [t.op('Gemm', [flat, t.weight([10, 3]), t.weight([3])])]);
      const gate = t.op('Sigmoid', [t.op('Gemm', [hidden, t.weight([3, 10]), t.weight([10])])]);
      const vector = reshape ? t.op('Reshape', [gate, t.ints([-1, 10, 1, 1])]) : t.op('Unsqueeze', [gate, t.ints([2, 3])]);
      return reshape ? t.op('Mul', [vector, x]) : t.op('Mul', [x, vector]);
    };
    const a = squeeze(y, false);
    const b = squeeze(y, true);
    // DoReFa k = 2: round(clip(x, 0, 1) · 3) / 3
    const clipped = t.op('Clip', [a, t.weight([], [0]), t.weight([], [1])]);
    const q = t.op('Div', [t.op('Round', [t.op('Mul', [clipped, t.weight([], [3])])]), t.weight([], [3])]);
    const c = t.conv(q, 10, 10, 3, { pads: [1, 1, 1, 1] });
    const d = t.op('Mul', [t.op('Sub', [b, t.weight([1, 10, 1, 1])]), t.op('Sub', [t.weight([]), a])]);
    y = t.op('Sum', [c, d, y]);
    y = t.op('Clip', [y, t.weight([], [-1.5]), t.weight([], [2])]);
    return { output: t.head(y, 10, 5), classes: 5 };
  }],

  'a branch added into the last channels (Pad + Add, Slice + Add + Concat), 3-way Concat': [[6, 5, 5], (t) => {
    const x = t.conv(t.x, 6, 8, 1);
    const z = t.conv(x, 8, 3, 3, { pads: [1, 1, 1, 1] });
    const padded = t.op('Add', [x, t.op('Pad', [z, t.ints([0, 5, 0, 0, 0, 0, 0, 0])], { mode: 'constant' })]);
    const head = t.op('Slice', [x, t.ints([0]), t.ints([5]), t.ints([1])]);
    const tail = t.op('Slice', [x, t.ints([-3]), t.ints([2 ** 62]), t.ints([1]), t.ints([1])]);
    const sliced = t.op('Concat', [head, t.op('Add', [tail, z])], { axis: 1 });
    const y = t.op('Concat', [padded, sliced, z], { axis: 1 });
    return { output: t.head(t.op('Relu', [y]), 19, 4), classes: 4 };
  }],

  "ReActNet-style blocks: shifted signs, one-padded binary convs, RPReLU, two concatenated 1x1 binary convs": [[16, 6, 6], (t) => {
    let y = t.x;
    for (const padValue of [1, 0, -1]) {
      const shifted = t.sign(t.op('Add', [y, t.weight([16, 1, 1], undefined, -0.3, 0.3)]));
      let z = t.op('Add', [t.bconv(shifted, 16, 16, 3, { pad: 1, padValue }), y]);
      z = t.op('Add', [t.op('PRelu', [t.op('Add', [z, t.weight([16, 1, 1])]), t.weight([16, 1, 1], undefined, 0, 0.3)]), t.weight([16, 1, 1])]);
      y = z;
    }
    // two 1x1 binary convs on the same signs, each with its own shortcut, concatenated
    const signs = t.sign(t.op('Add', [y, t.weight([16, 1, 1], undefined, -0.3, 0.3)]));
    const left = t.op('Add', [t.bconv(signs, 16, 16, 1), y]);
    const right = t.op('Add', [t.bconv(signs, 16, 16, 1), y]);
    const joined = t.op('Concat', [left, right], { axis: 1 });
    const strided = t.bconv(t.sign(joined), 32, 24, 3, { stride: 2, pad: 1, padValue: 1 });
    return { output: t.head(strided, 24, 6), classes: 6 };
  }],

  'QuickNet-style binary blocks: binary conv → relu → bn → add, 72 channels (a 64-channel word and a tail)': [[72, 6, 5], (t) => {
    let y = t.x;
    for (const padValue of [1, 0, 1]) {
      const branch = t.batchnorm(t.op('Relu', [t.bconv(t.sign(y), 72, 72, 3, { pad: 1, padValue })]), 72);
      y = t.op('Add', [branch, y]);
    }
    return { output: t.head(y, 72, 5), classes: 5 };
  }],

  "ReActNet-style widening: two 1x1 binary convs with BN and shortcuts, concatenated, RPReLU, the next RSign and a strided block": [[64, 6, 6], (t) => reactnetWidening(t, 64)],
  // 32-channel branches (ReActNet-A's first block): each branch's signs fill half a word of the concat's
  "ReActNet-style widening of 32-channel branches": [[32, 6, 6], (t) => reactnetWidening(t, 32)],
};

/** ReActNet's block that doubles the width, on c channels: a 3×3 conv, two 1×1 branches concatenated, a strided block. */
function reactnetWidening(t: TestGraph, c: number) {
  const rsign = (v: string, ch: number) => t.sign(t.op('Add', [v, t.weight([ch, 1, 1], undefined, -0.3, 0.3)]));
  const rprelu = (v: string, ch: number) => t.op('Add', [t.op('PRelu', [t.op('Add', [v, t.weight([ch, 1, 1])]), t.weight([ch, 1, 1], undefined, 0, 0.3)]), t.weight([ch, 1, 1])]);
  let y = rprelu(t.op('Add', [t.batchnorm(t.bconv(rsign(t.x, c), c, c, 3, { pad: 1, padValue: 1 }), c), t.x]), c);
  const x = y;
  const branch = () => t.op('Add', [t.batchnorm(t.bconv(rsign(x, c), c, c, 1), c), x]);
  y = rprelu(t.op('Concat', [branch(), branch()], { axis: 1 }), 2 * c);
  const shortcut = t.op('AveragePool', [y], { kernel_shape: [2, 2], strides: [2, 2] });
  y = rprelu(t.op('Add', [t.batchnorm(t.bconv(rsign(y, 2 * c), 2 * c, 2 * c, 3, { stride: 2, pad: 1 }), 2 * c), shortcut]), 2 * c);
  return { output: t.head(y, 2 * c, 6), classes: 6 };
}
