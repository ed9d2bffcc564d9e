/**
 * The checker: judges a finished graph and returns diagnostics pointing at the spec lines that made the
 * offending nodes. It works on any graph — elaborated, built in TypeScript, or read back from JSON.
 */
import { error, SofarError, type Diagnostic } from './diagnostics.js';
import { attrsProblem } from './graph/attrs.js';
import { shapeToString } from './graph/shapes.js';
import type { Graph, GraphNode } from './graph/types.js';

const ATTRIBUTE_HINTS: Partial<Record<GraphNode['op'], string>> = {
  hardtanh: 'hardtanh clips to [min, max]: give min ≤ max, e.g. hardtanh min=-1 max=1',
};

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export function check(graph: Graph): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const report = (node: GraphNode, code: string, message: string, hint?: string) =>
    diagnostics.push(error(code, `${node.name}: ${message}`, node.source, hint));
  const inputsOf = (node: GraphNode) => node.inputs.map((id) => graph.nodes[id]);
  if (!graph.input.every((d) => Number.isInteger(d) && d > 0)) {
    diagnostics.push(error('bad-argument', `the input shape ${graph.input.join('×')} has a size that is not a whole number ≥ 1`, undefined, 'input is C×H×W, e.g. input 3x32x32'));
  }
  if (!(Number.isInteger(graph.classes) && graph.classes >= 1)) {
    diagnostics.push(error('bad-argument', `classes must be a whole number ≥ 1, not ${graph.classes}`, undefined, 'classes is the number of scores the model outputs, e.g. classes 10'));
  }
  const seen = new Set<string>();
  for (const node of graph.nodes) {
    // Names key the weights and checkpoints: two nodes (or parameters) of one name would share them.
    if (seen.has(node.name)) report(node, 'duplicate', 'another node has this name', "scope names must not contain '/': nest scopes instead");
    seen.add(node.name);
    // Graphs built in TypeScript or read from JSON meet the attribute schema here, the language earlier.
    const problem = attrsProblem(node);
    if (problem) {
      report(node, 'bad-argument', problem, ATTRIBUTE_HINTS[node.op] ?? 'give this node an attribute its kind takes (see docs/semantics.md)');
      continue;
    }
    switch (node.op) {
      case 'add': {
        const inputs = inputsOf(node);
        if (inputs.every((t) => same(t.shape, inputs[0].shape))) break;
        if (inputs.length === 2) {
          const [a, b] = inputs;
          report(node, 'shape-mismatch', `the residual add gets ${shapeToString(a.shape)} from the shortcut and ${shapeToString(b.shape)} from the body`, projectionHint(a.shape, b.shape));
        } else {
          report(node, 'shape-mismatch', `the add gets ${inputs.map((t) => shapeToString(t.shape)).join(', ')}: summed inputs must have one shape`);
        }
        break;
      }
      case 'multiply': {
        const [x, s] = inputsOf(node);
        if (!same(x.shape, s.shape) && !(s.shape.length === 1 && s.shape[0] === x.shape[0])) {
          report(node, 'shape-mismatch', `multiply scales ${shapeToString(x.shape)} by ${shapeToString(s.shape)}`, `the factor has the input's shape or is a vector of its ${x.shape[0]} channels`);
        }
        break;
      }
      case 'add_into': {
        const [x, y] = inputsOf(node);
        const offset = node.attrs.offset;
        if (x.shape.length !== y.shape.length || !same(x.shape.slice(1), y.shape.slice(1)) || offset + y.shape[0] > x.shape[0]) {
          report(node, 'shape-mismatch', `cannot add ${shapeToString(y.shape)} into channels ${offset}… of ${shapeToString(x.shape)}`, 'the added branch needs the same height and width, and must fit in the channels from offset on');
        }
        break;
      }
      case 'join': {
        const inputs = inputsOf(node);
        const mismatch = node.attrs.mode === 'concat'
          ? inputs.find((t) => !same(t.shape.slice(1), inputs[0].shape.slice(1)))
          : inputs.find((t) => !same(t.shape, inputs[0].shape));
        if (mismatch) {
          report(node, 'shape-mismatch', `the fractal join's inputs differ: ${inputs.map((t) => shapeToString(t.shape)).join(', ')} (columns ${node.attrs.columns.join(', ')})`, "every column must keep the unit's output shape; a unit that changes shape cannot be joined with a shallower column");
        }
        break;
      }
      case 'concat': {
        const inputs = inputsOf(node);
        const mismatch = inputs.find((t) => t.shape.length !== inputs[0].shape.length || !same(t.shape.slice(1), inputs[0].shape.slice(1)));
        if (mismatch) {
          report(node, 'shape-mismatch', `the concatenation joins ${inputs.map((t) => shapeToString(t.shape)).join(' and ')}: sizes other than channels must agree`, 'the body of concat { } (or each branch of parallel(join = concat)) must keep height and width');
        }
        break;
      }
      case 'conv': {
        // A quantized kernel on a real input is legitimate (BinaryAlexNet's first layer); padding a real
        // input with anything but 0 is not what a pad value means (it pads the quantized input).
        const input = graph.nodes[node.inputs[0]];
        if (node.attrs.padValue !== 0 && input.precision !== 'bin' && input.op !== 'quantize') {
          report(node, 'precision', `pad value ${node.attrs.padValue} pads the real-valued output of ${input.name}`, 'a pad value applies to a quantized input (a binary conv, or a conv after sign); pad a real input with 0');
        }
        break;
      }
      case 'maxpool':
      case 'avgpool': {
        // ONNX (onnxruntime's pool attributes): every pad must be smaller than the window along its axis.
        const { kernel, pads } = node.attrs;
        const axis = [0, 1].find((i) => pads[i] >= kernel[i] || pads[i + 2] >= kernel[i]);
        if (axis !== undefined) {
          const pad = Math.max(pads[axis], pads[axis + 2]);
          report(node, 'padding', `padding ${pad} is not smaller than the ${kernel.join('x')} window`, `pooling pads must be smaller than the window (ONNX): use padding ≤ ${kernel[axis] - 1}, or padding=same`);
        }
        break;
      }
      default:
        break;
    }
  }
  const out = graph.nodes[graph.output];
  if (out && !(out.shape.length === 1 && out.shape[0] === graph.classes)) {
    diagnostics.push(
      error('output-shape', `the model ends in ${shapeToString(out.shape)} but classes = ${graph.classes}`, out.source, `end with global_avgpool then dense ${graph.classes}`),
    );
  }
  return diagnostics;
}

/**
 * How to fix a residual add whose shortcut (`a`) and body (`b`) differ: a 1×1 conv with the body's channels
 * and stride, a layer every spec has (no block is suggested that the spec may not define).
 */
function projectionHint(a: readonly number[], b: readonly number[]): string {
  if (a.length !== 3 || b.length !== 3) return 'the shortcut and the body must give the same shape';
  const stride = a[1] % b[1] === 0 && a[2] % b[2] === 0 && a[1] / b[1] === a[2] / b[2] ? a[1] / b[1] : undefined;
  const projection = `conv(1x1, ${b[0]}${stride && stride > 1 ? `, stride = ${stride}` : ''})`;
  return stride === undefined
    ? 'the body changes the map size by a factor a strided projection cannot match: keep the size in the body, or pool the shortcut'
    : `project the shortcut where the shape changes, e.g. residual(shortcut = ${projection}), or a block of yours that maps ${shapeToString(a)} to ${shapeToString(b)}`;
}

/**
 * Throws a SofarError with the checker's errors, so no backend lowers a graph the checker refuses. A
 * graph may still end before its classifier (a feature extractor, a test of one block): backends
 * return whatever the output node computes.
 */
export function assertValid(graph: Graph): void {
  const errors = check(graph).filter((d) => d.severity === 'error' && d.code !== 'output-shape');
  if (errors.length) throw new SofarError(errors);
}
