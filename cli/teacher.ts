/**
 * The teacher of a distilled run (`sofar train --teacher SPEC|MODEL.onnx [--teacher-weights RUN]`): an
 * onnxruntime inference session that gives the teacher's logits on each training batch. A spec is
 * built with the --set values its run recorded and exported with that run's weights; an ONNX model is
 * used as it is. Either must take the student's input and give its number of classes.
 */
import { readFileSync } from 'node:fs';
import { checkCheckpointFits, readCheckpoint } from '../src/checkpoint/index.js';
import { decodeInputNormalisation, NORMALISATION_METADATA_KEY, type InputNormalisation, type Normalisation } from '../src/data/normalise.js';
import type { Graph } from '../src/graph/types.js';
import type { Predict } from '../src/train/evaluate.js';
import { loadGraph, UsageError, userFailure, withRecordedParams } from './common.js';

export interface Teacher {
  predict: Predict;
  release: () => Promise<void>;
  /** The input normalisation the teacher was trained with, when its run or model records it. */
  normalisation: InputNormalisation | null;
}

/** A note when the teacher was trained on inputs normalised otherwise than the student's (it sees the student's). */
export function normalisationNote(teacher: Teacher, source: string, student: Normalisation): string | null {
  const t = teacher.normalisation;
  if (!t) return null;
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 1e-6 * Math.max(1, Math.abs(v)));
  if (same(t.mean, student.mean) && same(t.std, student.std)) return null;
  return `the teacher ${source} was trained on inputs normalised with mean [${t.mean.join(', ')}], std [${t.std.join(', ')}]; it sees the student's (mean [${student.mean.join(', ')}], std [${student.std.join(', ')}])`;
}

export async function openTeacher(source: string, weights: string | undefined, student: Graph): Promise<Teacher> {
  const [{ createSession, exportOnnx, runOnnx }, { readModelMetadata }] = await Promise.all([import('../backends/onnx/index.js'), import('../backends/onnx/proto.js')]);
  let model: Uint8Array;
  let normalisation: InputNormalisation | null;
  if (/\.onnx$/i.test(source)) {
    if (weights) throw new UsageError(`--teacher-weights goes with a teacher spec; the ONNX model ${source} holds its own weights`);
    try {
      model = readFileSync(source);
    } catch {
      throw userFailure(`cannot read the teacher ${source}`, 'give a .sofar spec (with --teacher-weights RUN) or a model.onnx');
    }
    try {
      normalisation = decodeInputNormalisation(readModelMetadata(model)[NORMALISATION_METADATA_KEY]);
    } catch {
      normalisation = null; // not an ONNX model: onnxruntime says so below
    }
  } else {
    if (!weights) throw new UsageError(`a teacher spec needs its trained weights: --teacher-weights RUN`, `for example --teacher ${source} --teacher-weights runs/teacher`);
    const checkpoint = readCheckpoint(weights);
    const { graph } = loadGraph(source, withRecordedParams({}, checkpoint.meta.modelParams, `the teacher run ${weights}`));
    checkCheckpointFits(checkpoint, graph);
    model = exportOnnx(graph, checkpoint.weights);
    normalisation = checkpoint.meta.normalisation ?? null;
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
  return { predict, release: () => session.release(), normalisation };
}
