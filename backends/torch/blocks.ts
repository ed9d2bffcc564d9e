/**
 * The graph's blocks as Python classes: one `nn.Module` class per block kind of the spec.
 *
 * Every callable scope (backends/torch/scopes.ts) becomes an instance. Instances whose kind (the scope
 * name without its number: `unit1` → `unit`) and structure (members, their classes, the forward's
 * wiring) agree share a class; the numbers that differ between them — channels, strides, pads —
 * become constructor parameters, and those that do not are written out in the class. A kind whose
 * instances differ in structure gets one class per structure (`Unit`, `UnitWithShortcut`).
 */
import { dispatch, type Graph, type GraphNode } from '../../src/graph/types.js';
import { TORCH_LAYERS, type Lowered, type Py } from './lower.js';
import { buildScopes, PYTHON_RESERVED, type Scope } from './scopes.js';

/** Class names of the runtime, which generated classes must not take. */
const RUNTIME_NAMES = ['QuantConv2d', 'QuantDense', 'BatchNorm', 'PReLU', 'Bias', 'Dropout', 'Join', 'Scope', 'SteSign', 'MagnitudeAwareSign', 'MagnitudeAwareSignUnclipped', 'XnorWeightScale', 'SofarRandom'];
/** Module-level names a forward calls, which its local variables must not shadow. */
const FORWARD_GLOBALS = new Set(['torch', 'F', 'nn', 'math', 'ste_sign', 'approx_sign', 'swish_sign', 'ste_heaviside', 'dorefa', 'max_pool2d', 'avg_pool2d', 'multiply', 'add_into']);

type InitItem =
  | { kind: 'module'; name: string; path: string; lowered: Lowered; node: GraphNode }
  | { kind: 'block'; name: string; path: string; instance: Instance }
  | { kind: 'scope'; name: string; items: InitItem[] };

interface Statement {
  outputs: string[];
  ret: boolean;
  /** The expression, given how to read an argument key (`bconv:stride`). */
  expr: (resolve: (key: string) => Py) => string;
}

interface Instance {
  scope: Scope;
  kind: string;
  init: InitItem[];
  args: string[];
  statements: Statement[];
  returns: string[];
  /** Argument key → this instance's value. */
  values: Map<string, Py>;
  /** Keys read by forward (plain functions): a lifted one is kept on self. */
  forwardKeys: Set<string>;
  /** Member names (first path segments), for naming classes apart. */
  members: Set<string>;
  cls?: BlockClass;
  /** Constructor parameter → value, once the class is settled. */
  params: Map<string, Py>;
}

interface BlockClass {
  kind: string;
  signature: string;
  instances: Instance[];
  height: number;
  name: string;
  params: { name: string; keys: string[]; stored: boolean }[];
  paramOf: Map<string, string>;
  constants: Map<string, Py>;
}

const token = (key: string) => `\u0001${key}\u0002`;
/** `fused_block` → `FusedBlock`: a Python class name; anything but letters and digits separates words (`reactnet-a` → `ReactnetA`). */
const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('')
    .replace(/^(\d|$)/, 'Block$1');

export interface EmittedClasses {
  /** Python source of every class, innermost first. */
  source: string;
  /** The model's class. */
  root: string;
  /** Class name → the scopes it was made for, for the header. */
  blocks: { name: string; scopes: string[] }[];
}

export function emitClasses(graph: Graph): EmittedClasses {
  const root = buildScopes(graph);
  const classes = new Map<string, BlockClass>();
  const rootInstance = instantiate(root, graph, classes, graph.name);
  const ordered = [...classes.values()].sort((a, b) => a.height - b.height);
  for (const cls of ordered) settle(cls);
  nameClasses(ordered, rootInstance.cls!, graph.name);
  return {
    source: ordered.map(render).join('\n\n\n'),
    root: rootInstance.cls!.name,
    blocks: ordered.filter((c) => c !== rootInstance.cls).map((c) => ({ name: c.name, scopes: c.instances.map((i) => i.scope.path) })),
  };
}

interface Unit {
  path: string;
  leaf?: GraphNode;
  block?: Scope;
  first: number;
  inputs: number[];
  outputs: number[];
}

/** The members a block's forward calls: its layers, its callable sub-blocks, and those inside its containers. */
function collectUnits(scope: Scope, prefix: string, out: Unit[]): void {
  for (const leaf of scope.leaves) {
    const path = prefix + leaf.name.split('/').pop()!;
    out.push({ path, leaf, first: leaf.id, inputs: leaf.inputs, outputs: leaf.op === 'input' ? [leaf.id] : [leaf.id] });
  }
  for (const child of scope.children.values()) {
    if (child.callable) out.push({ path: prefix + child.segment, block: child, first: Math.min(...child.nodes), inputs: child.inputs, outputs: child.outputs });
    else collectUnits(child, `${prefix}${child.segment}.`, out);
  }
}

/** Topological order of the units (a block is convex, so the units form a DAG), earliest node first. */
function orderUnits(units: Unit[], inside: Set<number>): Unit[] {
  const unitOf = new Map<number, Unit>();
  for (const u of units) for (const id of u.block ? u.block.nodes : [u.leaf!.id]) unitOf.set(id, u);
  const done = new Set<Unit>();
  const ordered: Unit[] = [];
  const pending = [...units].sort((a, b) => a.first - b.first);
  while (pending.length) {
    const i = pending.findIndex((u) => u.inputs.every((id) => !inside.has(id) || done.has(unitOf.get(id)!)));
    if (i < 0) throw new Error('internal: the units of a block form a cycle');
    const [u] = pending.splice(i, 1);
    done.add(u);
    ordered.push(u);
  }
  return ordered;
}

function instantiate(scope: Scope, graph: Graph, classes: Map<string, BlockClass>, rootKind: string): Instance {
  const units: Unit[] = [];
  collectUnits(scope, '', units);
  const ordered = orderUnits(units, scope.nodes);
  const instance: Instance = {
    scope,
    // `unit3` and `section_3` (a computed name) are instances of `unit` and `section`.
    kind: scope.path === '' ? rootKind : scope.segment.replace(/_*\d+$/, '') || scope.segment,
    init: [],
    args: [],
    statements: [],
    returns: [],
    values: new Map(),
    forwardKeys: new Set(),
    members: new Set(units.map((u) => u.path.split('.')[0])),
    params: new Map(),
  };

  // Values and the variables holding them: an input's variable is reused once it is dead.
  const remaining = new Map<number, number>();
  const use = (id: number, by = 1) => remaining.set(id, (remaining.get(id) ?? 0) + by);
  for (const u of ordered) for (const id of u.inputs) use(id);
  for (const id of scope.outputs) use(id);
  const varOf = new Map<number, string>();
  const holder = new Map<string, number>();
  const hold = (name: string, id: number) => {
    varOf.set(id, name);
    holder.set(name, id);
  };
  scope.inputs.forEach((id, k) => {
    const name = k === 0 ? 'x' : `x${k + 1}`;
    instance.args.push(name);
    hold(name, id);
  });
  const free = (name: string) => !holder.has(name) || (remaining.get(holder.get(name)!) ?? 0) === 0;

  const children = new Map<string, Instance>();
  ordered.forEach((u, index) => {
    if (u.leaf?.op === 'input') {
      instance.args.push('x');
      hold('x', u.leaf.id);
      return;
    }
    const inputs = u.inputs.map((id) => varOf.get(id)!);
    for (const id of u.inputs) use(id, -1);
    const last = index === ordered.length - 1;
    const ret = last && u.outputs.join() === scope.outputs.join();
    const outputs: string[] = [];
    if (!ret) {
      for (const id of u.outputs) {
        const base = u.path.split('.').pop()!;
        const candidates = [...(outputs.length === 0 && inputs.length ? [inputs[0]] : []), 'x', 'y', 'z', base, ...[2, 3, 4, 5, 6, 7, 8, 9].map((n) => `${base}${n}`)];
        const name = candidates.find((c) => free(c) && !outputs.includes(c) && !PYTHON_RESERVED.has(c) && !FORWARD_GLOBALS.has(c))!;
        outputs.push(name);
      }
      u.outputs.forEach((id, k) => hold(outputs[k], id));
    }
    const self = `self.${u.path}`;
    if (u.leaf) {
      const node = u.leaf;
      const lowered = dispatch(TORCH_LAYERS, node);
      for (const a of lowered.args) instance.values.set(`${u.path}:${a.name}`, a.value);
      if (lowered.module) addItem(instance.init, u.path, { kind: 'module', name: u.path.split('.').pop()!, path: u.path, lowered, node });
      else for (const a of lowered.args) instance.forwardKeys.add(`${u.path}:${a.name}`);
      instance.statements.push({ outputs, ret, expr: (resolve) => lowered.call(inputs, (name) => resolve(`${u.path}:${name}`), self) });
    } else {
      const child = instantiate(u.block!, graph, classes, rootKind);
      children.set(u.path, child);
      addItem(instance.init, u.path, { kind: 'block', name: u.path.split('.').pop()!, path: u.path, instance: child });
      instance.statements.push({ outputs, ret, expr: () => `${self}(${inputs.join(', ')})` });
    }
  });
  if (!instance.statements.at(-1)?.ret) instance.returns = scope.outputs.map((id) => varOf.get(id)!);

  const signature = JSON.stringify({
    kind: instance.kind,
    init: itemSignature(instance.init),
    args: instance.args,
    body: instance.statements.map((s) => `${s.ret ? 'return' : s.outputs.join(', ')} = ${s.expr(token)}`),
    returns: instance.returns,
  });
  let cls = classes.get(signature);
  if (!cls) {
    const height = 1 + Math.max(0, ...[...children.values()].map((c) => c.cls!.height));
    cls = { kind: instance.kind, signature, instances: [], height, name: '', params: [], paramOf: new Map(), constants: new Map() };
    classes.set(signature, cls);
  }
  cls.instances.push(instance);
  instance.cls = cls;
  return instance;
}

/** Puts an item at its path, inside containers (`col3.unit1` → Scope col3 → unit1). */
function addItem(items: InitItem[], path: string, item: InitItem): void {
  const parts = path.split('.');
  let list = items;
  for (const part of parts.slice(0, -1)) {
    let scope = list.find((i): i is Extract<InitItem, { kind: 'scope' }> => i.kind === 'scope' && i.name === part);
    if (!scope) list.push((scope = { kind: 'scope', name: part, items: [] }));
    list = scope.items;
  }
  list.push(item);
}

function itemSignature(items: InitItem[]): unknown[] {
  return items.map((i) =>
    i.kind === 'scope' ? { scope: i.name, items: itemSignature(i.items) } : i.kind === 'module' ? { module: i.name, cls: i.lowered.module, args: i.lowered.args.map((a) => a.name) } : { block: i.name, cls: i.instance.cls!.signature },
  );
}

/** Decides, for a class whose member classes are settled, which values are parameters and which constants. */
function settle(cls: BlockClass): void {
  // Arguments of member blocks: their parameters, with this instance's values.
  for (const instance of cls.instances) {
    const visit = (items: InitItem[]) => {
      for (const item of items) {
        if (item.kind === 'scope') visit(item.items);
        if (item.kind === 'block') for (const [name, value] of item.instance.params) instance.values.set(`${item.path}:${name}`, value);
      }
    };
    visit(instance.init);
  }
  const first = cls.instances[0];
  const taken = new Set([...first.members, ...first.args, 'self']);
  const byVector = new Map<string, { name: string; keys: string[]; stored: boolean }>();
  for (const key of first.values.keys()) {
    const vector = cls.instances.map((i) => i.values.get(key)!);
    if (vector.every((v) => v === vector[0])) {
      cls.constants.set(key, vector[0]);
      continue;
    }
    const id = JSON.stringify(vector);
    let param = byVector.get(id);
    if (!param) {
      const [path, hint] = key.split(':');
      const options = [hint, `${path.replace(/\./g, '_')}_${hint}`, ...[2, 3, 4, 5, 6, 7, 8, 9].map((n) => `${path.replace(/\./g, '_')}_${hint}${n}`)];
      const name = options.find((o) => !taken.has(o) && !PYTHON_RESERVED.has(o))!;
      taken.add(name);
      param = { name, keys: [], stored: false };
      byVector.set(id, param);
      cls.params.push(param);
    }
    param.keys.push(key);
    param.stored ||= first.forwardKeys.has(key);
    cls.paramOf.set(key, param.name);
  }
  for (const instance of cls.instances) for (const p of cls.params) instance.params.set(p.name, instance.values.get(p.keys[0])!);
}

function nameClasses(classes: BlockClass[], root: BlockClass, graphName: string): void {
  const used = new Set(RUNTIME_NAMES);
  const unique = (name: string) => {
    let candidate = name;
    for (let n = 2; used.has(candidate); n++) candidate = `${name}${n}`;
    used.add(candidate);
    return candidate;
  };
  root.name = unique(pascal(graphName));
  const byKind = new Map<string, BlockClass[]>();
  for (const c of classes) if (c !== root) byKind.set(c.kind, [...(byKind.get(c.kind) ?? []), c]);
  for (const [kind, group] of byKind) {
    const base = pascal(kind);
    if (group.length === 1) {
      group[0].name = unique(base);
      continue;
    }
    const membersOf = (c: BlockClass) => c.instances[0].members;
    // A structure with members the others lack is named for one (UnitWithShortcut); of the rest, the
    // most used takes the plain name and a one-off takes its scope's (Stage1).
    const plain: BlockClass[] = [];
    for (const c of group) {
      const extras = [...membersOf(c)].filter((m) => group.every((o) => o === c || !membersOf(o).has(m)));
      if (extras.length) c.name = unique(`${base}With${pascal(extras[0].replace(/\d+$/, '') || extras[0])}`);
      else plain.push(c);
    }
    plain.sort((a, b) => b.instances.length - a.instances.length);
    plain.forEach((c, i) => (c.name = unique(i > 0 && c.instances.length === 1 ? pascal(c.instances[0].scope.segment) : base)));
  }
}

const INDENT = '    ';

function render(cls: BlockClass): string {
  const first = cls.instances[0];
  const resolveInit = (key: string) => cls.paramOf.get(key) ?? cls.constants.get(key)!;
  const resolveForward = (key: string) => {
    const p = cls.paramOf.get(key);
    return p ? `self.${p}` : cls.constants.get(key)!;
  };
  const isRoot = first.scope.path === '';
  const scopes = cls.instances.map((i) => i.scope.path);
  const doc = isRoot
    ? `The model '${first.kind}'.`
    : `Block '${first.kind}' of the spec: ${scopes.slice(0, 4).join(', ')}${scopes.length > 4 ? `, … (${scopes.length} in all)` : ''}.`;
  const lines = [`class ${cls.name}(nn.Module):`, `${INDENT}"""${doc}"""`, ''];
  lines.push(`${INDENT}def __init__(${['self', ...cls.params.map((p) => p.name)].join(', ')}):`, `${INDENT}${INDENT}super().__init__()`);
  for (const item of first.init) lines.push(...renderItem(item, resolveInit, `${INDENT}${INDENT}`, 'self.'));
  for (const p of cls.params) if (p.stored) lines.push(`${INDENT}${INDENT}self.${p.name} = ${p.name}`);
  lines.push('', `${INDENT}def forward(${['self', ...first.args].join(', ')}):`);
  for (const s of first.statements) lines.push(`${INDENT}${INDENT}${s.ret ? 'return ' : `${s.outputs.join(', ')} = `}${s.expr(resolveForward)}`);
  if (first.returns.length) lines.push(`${INDENT}${INDENT}return ${first.returns.join(', ')}`);
  return lines.join('\n');
}

/** `self.bconv = QuantConv2d(...)` in a class, `bconv=QuantConv2d(...),` inside a Scope. */
function renderItem(item: InitItem, resolve: (key: string) => Py, indent: string, assign: 'self.' | ''): string[] {
  const lead = assign ? `${indent}self.${item.name} = ` : `${indent}${item.name}=`;
  const tail = assign ? '' : ',';
  if (item.kind === 'scope') {
    return [`${lead}Scope(`, ...item.items.flatMap((i) => renderItem(i, resolve, indent + INDENT, '')), `${indent})${tail}`];
  }
  let call: string;
  if (item.kind === 'module') {
    const args = item.lowered.args.flatMap((a) => {
      const key = `${item.path}:${a.name}`;
      const value = resolve(key);
      if (!a.positional && a.omit !== undefined && value === a.omit) return [];
      return [a.positional ? value : `${a.name}=${value}`];
    });
    call = `${item.lowered.module}(${args.join(', ')})`;
  } else {
    const child = item.instance.cls!;
    const args = child.params.map((p) => (child.params.length === 1 ? resolve(`${item.path}:${p.name}`) : `${p.name}=${resolve(`${item.path}:${p.name}`)}`));
    call = `${child.name}(${args.join(', ')})`;
  }
  return [`${lead}${call}${tail}`];
}
