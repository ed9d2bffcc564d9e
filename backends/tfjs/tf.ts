/**
 * The TensorFlow.js module this backend computes with. Every function takes it as a parameter so the
 * same code runs on `@tensorflow/tfjs` (pure JS), `@tensorflow/tfjs-node` or `@tensorflow/tfjs-node-gpu`:
 * the native packages re-export the same API over the same tfjs-core engine.
 */
import * as tfjs from '@tensorflow/tfjs';

export type Tf = typeof tfjs;
export type Tensor = tfjs.Tensor;
export type Tensor4D = tfjs.Tensor4D;
export type SymbolicTensor = tfjs.SymbolicTensor;
export type LayersModel = tfjs.LayersModel;
export type GradSaveFunc = tfjs.GradSaveFunc;
export type LayerVariable = tfjs.LayerVariable;
export type ModelArtifacts = tfjs.io.ModelArtifacts;
export type ModelJSON = tfjs.io.ModelJSON;

/** The pure-JS module, used when a caller passes no module of its own. */
export const defaultTf: Tf = tfjs;
