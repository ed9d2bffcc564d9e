/**
 * The drawn `sofar graph -f html` page in headless Chromium: one box per node and none overlapping as
 * the browser lays the SVG out, collapsing a stage hides its nodes, hovering shows params, MACs and the
 * source line, clicking opens the spec at that line, and the table stays as a second view.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/web.js';
import { compileFile } from '../../src/compile.js';
import { skipWithout } from '../helpers/requirements.js';
import { chromiumMissing } from '../web/helpers.js';

type Browser = Awaited<ReturnType<typeof launchChromium>>;
const SPECS = ['specs/fashion/rf-c3-small.sofar', 'specs/bireal-resnet18.sofar', 'specs/drf-c2d2-densenet51.sofar'];
const dir = mkdtempSync(join(tmpdir(), 'sofar-html-'));

function page(spec: string): string {
  const out = join(dir, spec.replace(/\W+/g, '_') + '.html');
  const r = spawnSync(process.execPath, ['dist/cli/main.js', 'graph', spec, '-f', 'html', '-o', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return pathToFileURL(out).href;
}

describe.skipIf(skipWithout(chromiumMissing()))('sofar graph -f html in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  for (const spec of SPECS) {
    it(`${spec}: one box per node, no two overlapping, as rendered`, async () => {
      const tab = await browser.newPage();
      await tab.goto(page(spec));
      const boxes = await tab.$$eval('g.node rect', (rects) => rects.map((r) => { const b = r.getBoundingClientRect(); return { x: b.x, y: b.y, w: b.width, h: b.height }; }));
      expect(boxes.length).toBe(compileFile(spec).graph!.nodes.length);
      const overlaps = boxes.flatMap((a, i) => boxes.slice(i + 1).filter((b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h).map(() => i));
      expect(overlaps).toEqual([]);
      await tab.close();
    }, 60_000);
  }

  it('collapsing a stage hides its nodes; expanding shows them again', async () => {
    const tab = await browser.newPage();
    await tab.goto(page(SPECS[0]));
    const visible = () => tab.$$eval('g.node', (els) => els.filter((e) => e.getClientRects().length > 0).map((e) => e.getAttribute('data-name')!));
    const before = await visible();
    await tab.click('g.group[data-path="stage1"] > text');
    const after = await visible();
    expect(after.some((n) => n.startsWith('stage1/'))).toBe(false);
    expect(after.length).toBe(before.filter((n) => !n.startsWith('stage1/')).length);
    await tab.click('g.group[data-path="stage1"] > text');
    expect((await visible()).length).toBe(before.length);
    await tab.close();
  }, 60_000);

  it('hover shows params, MACs and source; a click opens the spec at that line; the table is a second view', async () => {
    const tab = await browser.newPage();
    await tab.goto(page(SPECS[0]));
    const node = 'g.node[data-name="stage1/rf1/col3/unit1/bconv"]';
    await tab.hover(node);
    const tip = await tab.textContent('#tip');
    expect(tip).toContain('params 9,216');
    expect(tip).toMatch(/MACs 7,225,344/); // 3·3·32 · 32 · 28·28
    expect(tip).toContain('specs/fashion/rf-c3-small.sofar:10:5');
    await tab.click(node);
    expect(await tab.textContent('#source .here')).toMatch(/^ +10 /);
    await tab.click('nav button[data-view="table"]');
    expect(await tab.isVisible('#table')).toBe(true);
    expect(await tab.isVisible('#drawing')).toBe(false);
    expect(await tab.$$eval('#table tbody tr', (r) => r.length)).toBe(compileFile(SPECS[0]).graph!.nodes.length);
    await tab.close();
  }, 60_000);
});
