/**
 * The teacher of a distilled run (`sofar train --teacher SPEC|MODEL.onnx [--teacher-weights RUN]`): an
 * onnxruntime inference session that gives the teacher's logits on each training batch. A spec is
 * built with the --set values its run recorded and exported with that run's weights; an ONNX model is
 * used as it is. Either must take the student's input and give its number of classes.
 */
import { readFileSync } from 'node:fs';
import { checkCheckpointFits, readCheckpoint } from '../src/checkpoint/index.js';
import type { Graph } from '../src/graph/types.js';
import type { Predict } from '../src/train/evaluate.js';
import { loadGraph, UsageError, userFailure, withRecordedParams } from './common.js';

export interface Teacher {
  predict: Predict;
  release: () => Promise<void>;
}

export async function openTeacher(source: string, weights: string | undefined, student: Graph): Promise<Teacher> {
  const { createSession, exportOnnx, runOnnx } = await import('../backends/onnx/index.js');
  let model: Uint8Array;
  if (/\.onnx$/i.test(source)) {
    if (weights) throw new UsageError(`--teacher-weights goes with a teacher spec; the ONNX model ${source} holds its own weights`);
    try {
      model = readFileSync(source);
    } catch {
      throw userFailure(`cannot read the teacher ${source}`, 'give a .sofar spec (with --teacher-weights RUN) or a model.onnx');
    }
  } else {
    if (!weights) throw new UsageError(`a teacher spec needs its trained weights: --teacher-weights RUN`, `for example --teacher ${source} --teacher-weights runs/teacher`);
    const checkpoint = readCheckpoint(weights);
    const { graph } = loadGraph(source, withRecordedParams({}, checkpoint.meta.modelParams, `the teacher run ${weights}`));
    checkCheckpointFits(checkpoint, graph);
    model = exportOnnx(graph, checkpoint.weights);
  }
  let session;
  try {
    session = await createSession(model);
  } catch (e) {
    throw userFailure(`the teacher ${source} is not a model onnxruntime can open: ${(e as Error).message.split('\n')[0]}`);
  }
  const predict: Predict = (x, n) => runOnnx(session, x, n);
  // One sample first: a teacher of another input or class count is refused before training starts.
  const size = student.input.reduce((a, b) => a * b, 1);
  let logits: Float32Array;
  try {
    logits = await predict(new Float32Array(size), 1);
  } catch (e) {
    await session.release();
    throw userFailure(`the teacher ${source} does not take this model's input (${student.input.join('×')}): ${(e as Error).message.split('\n')[0]}`);
  }
  if (logits.length !== student.classes) {
    await session.release();
    throw userFailure(`the teacher ${source} gives ${logits.length} logits, the student '${student.name}' ${student.classes} classes`, 'a teacher must classify into the same classes');
  }
  return { predict, release: () => session.release() };
}
