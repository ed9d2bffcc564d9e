import { test, expect } from 'vitest';
import { parse } from '../../grammar/index.js';
test('smoke', () => {
  const r = parse(`
model bireal_resnet18 {
  input 3x224x224
  classes 1000
  binarize activations = approx_sign, weights = magnitude_aware_sign

  # Bi-Real unit
  block unit(ch, stride = 1) = residual(shortcut = project(ch) if stride > 1) {
    bconv 3x3 ch /stride
    bn
  }
  block project(ch) { avgpool 2x2 /2; conv 1x1 ch; bn }

  stem: conv 7x7 64 /2; bn; maxpool 3x3 /2 padding=same
  stage conv2 { unit(64) * 4 }
  stage conv3 { unit(128, stride = 2); unit(128) * 3 }
  for w in [256, 512] { stage s { unit(w, stride=2)
     unit(w) * 3 } }
  global_avgpool; dense 1000
}
block rf(ch) = fractal(columns = 4, join = mean, drop_path = 0.15) { unit(ch) }
`, 'x.sofar');
  console.log(JSON.stringify(r.diagnostics), JSON.stringify(r.ast.models[0].body.slice(0, 3), null, 0).slice(0, 1500));
  expect(r.diagnostics).toEqual([]);
  const bad = parse(`model m {\n  conv 3x3 64 /\n  bn(\n}\nmodel {\n}`, 'bad.sofar');
  console.log(bad.diagnostics.map(d=>`${d.span?.line}:${d.span?.column} ${d.message}`).join('\n'));
});
