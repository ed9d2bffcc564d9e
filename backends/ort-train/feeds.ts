/** Host data → step-model inputs: images, labels and the per-node masks of one step, checked. */
import type { Graph, GraphNode } from '../../src/graph/types.js';
import type { Batch, StepNoise } from '../../src/train/engine.js';
import type * as ort from 'onnxruntime-node';
import { float32, int64Labels } from './session.js';
import { IO } from './step-model.js';

const onesCache = new Map<number, Float32Array>();

/** A shared all-ones vector (masks that keep everything); never written to. */
function ones(size: number): Float32Array {
  let v = onesCache.get(size);
  if (!v) onesCache.set(size, (v = new Float32Array(size).fill(1)));
  return v;
}

/** The images of a batch as an `[n, C, H, W]` tensor over the caller's memory. */
export function imageFeed(graph: Graph, x: Float32Array, n: number): ort.Tensor {
  const size = n * graph.input.reduce((a, b) => a * b, 1);
  if (x.length < size) throw new Error(`a batch of ${n} needs ${size} input values, got ${x.length}`);
  return float32(x.length === size ? x : x.subarray(0, size), [n, ...graph.input]);
}

export function labelFeed(graph: Graph, y: Int32Array, n: number): ort.Tensor {
  if (y.length < n) throw new Error(`a batch of ${n} needs ${n} labels, got ${y.length}`);
  for (let i = 0; i < n; i++) {
    if (!(y[i] >= 0 && y[i] < graph.classes)) throw new Error(`label ${y[i]} at batch index ${i} is outside 0..${graph.classes - 1}`);
  }
  return int64Labels(y, n);
}

/**
 * The mask input of every masked node. A join without a drop-path mask keeps all its inputs; a dropout
 * without a mask is the identity (as in the tfjs engine; the training loop always draws one).
 */
export function maskFeeds(nodes: readonly GraphNode[], noise: StepNoise, n: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const node of nodes) {
    if (node.op === 'join') {
      const k = node.inputs.length;
      const mask = noise.joinMasks.get(node.name);
      if (mask && mask.length !== k) throw new Error(`the drop-path mask of '${node.name}' has ${mask.length} values, expected ${k}`);
      feeds[IO.mask(node)] = float32(mask ?? ones(k), [k]);
    } else {
      const size = n * node.shape.reduce((a, b) => a * b, 1);
      const mask = noise.dropoutMasks.get(node.name);
      if (mask && mask.length < size) throw new Error(`the dropout mask of '${node.name}' has ${mask.length} values, expected ${size}`);
      feeds[IO.mask(node)] = float32(mask ? mask.subarray(0, size) : ones(size), [n, ...node.shape]);
    }
  }
  return feeds;
}

/** The teacher's logits of a batch, for a step model that distils (`[n, classes]`). */
export function teacherFeed(graph: Graph, batch: Batch): ort.Tensor {
  const size = batch.n * graph.classes;
  if (!batch.teacher) throw new Error('a distilling step needs the teacher logits of its batch');
  if (batch.teacher.length < size) throw new Error(`a batch of ${batch.n} needs ${size} teacher logits, got ${batch.teacher.length}`);
  return float32(batch.teacher.subarray(0, size), [batch.n, graph.classes]);
}

/** The training feeds every step kind shares; the teacher's logits when the model distils. */
export function batchFeeds(graph: Graph, maskedNodes: readonly GraphNode[], batch: Batch, noise: StepNoise, distils = false): Record<string, ort.Tensor> {
  return {
    [IO.x]: imageFeed(graph, batch.x, batch.n),
    [IO.labels]: labelFeed(graph, batch.y, batch.n),
    ...maskFeeds(maskedNodes, noise, batch.n),
    ...(distils ? { [IO.teacher]: teacherFeed(graph, batch) } : {}),
  };
}
