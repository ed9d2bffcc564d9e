/**
 * The playground (dist/web/playground.html, served by `sofar serve`) in headless Chromium, on CodeMirror
 * and the language service: the example compiles, is highlighted and drawn; a broken spec typed in shows
 * its error at the right line and column (lint mark and list); fixing it brings the drawing back and each
 * line's output shape; typing offers the arguments of a layer; hovering a layer shows its output shape;
 * F12 on a block call selects the block's name; Format (button and Shift-Alt-F) gives the canonical
 * text; the address carries the spec; and the page and the playground link to each other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/web.js';
import { compile } from '../../src/compile-text.js';
import { LAYERS } from '../../src/elaborate/layers.js';
import { formatSpec } from '../../src/service/format.js';
import { skipWithout } from '../helpers/requirements.js';
import { chromiumMissing, startServe } from '../web/helpers.js';

type Browser = Awaited<ReturnType<typeof launchChromium>>;
type Page = Awaited<ReturnType<Browser['newPage']>>;
// Written by hand in the canonical layout (the Format test's reference).
const GOOD = `model tiny {
  input 1x8x8
  classes 3
  binarize activations = ste_sign, weights = ste_sign
  conv 3x3 8
  bn
  bconv 3x3 8
  global_avgpool
  dense 3
}
`;
// Line 6, column 3: a layer the language does not have.
const BROKEN = GOOD.replace('  bn\n', '  frobnicate 3\n');
// GOOD with the spacing, indentation and blank lines of a hurried author.
const UGLY = 'model tiny {\n\n    input 1x8x8\n  classes   3\n  binarize activations=ste_sign,weights = ste_sign\n  conv 3x3 8\n      bn\n  bconv 3x3 8\n  global_avgpool\n  dense 3\n\n}';

/** The spec the page put in its address (`#spec=` base64url of the UTF-8). */
const specInAddress = (url: string) => Buffer.from(/#spec=([A-Za-z0-9_-]*)/.exec(url)![1], 'base64url').toString('utf8');

/** Replaces the editor's text as a paste would (one input event, no auto-indent or closing brackets). */
async function setText(tab: Page, text: string) {
  await tab.click('.cm-content');
  await tab.keyboard.press('Control+A');
  await tab.keyboard.insertText(text);
}

/** Waits until the page has analysed `text` (it writes the text to the address after each analysis). */
async function analysed(tab: Page, text: string) {
  await tab.waitForFunction(`(() => {
    const m = /#spec=([A-Za-z0-9_-]*)/.exec(location.hash);
    if (!m) return false;
    const bytes = Uint8Array.from(atob(m[1].replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes) === ${JSON.stringify(text)};
  })()`);
}

/** Where the middle of the word's third character is on the screen, in the editor's 1-based line `line`. */
async function pointAt(tab: Page, line: number, word: string): Promise<{ x: number; y: number }> {
  return (await tab.evaluate(`(() => {
    const line = [...document.querySelectorAll('.cm-line')][${line - 1}];
    const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const i = n.textContent.indexOf(${JSON.stringify(word)});
      if (i < 0) continue;
      const range = document.createRange();
      range.setStart(n, i + 2);
      range.setEnd(n, i + 3);
      const r = range.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
    }
  })()`)) as { x: number; y: number };
}

describe.skipIf(skipWithout(chromiumMissing()))('the playground in headless Chromium', () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof startServe>>;
  beforeAll(async () => {
    server = await startServe();
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('draws the example, shows a typed error at its line and column, and shares the spec in the address', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${server.url}playground.html`);
    await tab.waitForSelector('#drawing svg g.node');
    // The example is highlighted from the TextMate grammar: a layer's name and a keyword have colours of their own.
    const colour = (word: string) => tab.evaluate(`getComputedStyle([...document.querySelectorAll('.cm-line span')].find((s) => s.textContent === '${word}')).color`);
    expect(await colour('model')).not.toBe(await colour('bconv'));
    expect(await colour('bconv')).not.toBe('rgb(34, 34, 34)');

    const expected = compile(BROKEN, 'playground.sofar').diagnostics.find((d) => d.severity === 'error')!;
    expect(expected.span!.line).toBe(6);
    await setText(tab, BROKEN);
    await tab.waitForSelector('#diagnostics li.error');
    const item = tab.locator('#diagnostics li.error').first();
    expect(await item.getAttribute('data-line')).toBe(String(expected.span!.line));
    expect(await item.getAttribute('data-column')).toBe(String(expected.span!.column));
    expect(await item.textContent()).toContain(expected.message);
    // The lint mark underlines the span on line 6, and nothing else.
    await tab.waitForSelector('.cm-lintRange-error');
    const marked = await tab.evaluate(`[...document.querySelectorAll('.cm-line')].flatMap((l, i) => [...l.querySelectorAll('.cm-lintRange-error')].map((m) => [i + 1, m.textContent]))`);
    expect(marked).toEqual([[6, BROKEN.slice(expected.span!.offset, expected.span!.offset + expected.span!.length)]]);

    await setText(tab, GOOD);
    // Wait for the new spec's drawing, not just for the error to clear: the layout runs after the
    // diagnostics update, and until it lands the example's drawing is still on the page. (The page's
    // own code, as a string: the test project has no DOM types.)
    const nodes = compile(GOOD, 'playground.sofar').graph!.nodes.length;
    await tab.waitForFunction(
      `document.body.dataset.nodes === '${nodes}' && document.querySelectorAll('#drawing g.node').length === ${nodes} && !document.querySelector('#diagnostics li.error') && !document.querySelector('.cm-lintRange-error')`,
    );
    expect(await tab.$$eval('#drawing g.node', (n) => n.length)).toBe(nodes);
    expect(await tab.textContent('#summary')).toContain('tiny');
    // Each layer line ends with its output shape (a hint, not text of the spec).
    const graph = compile(GOOD, 'playground.sofar').graph!;
    const lastOnLine = (line: number) => graph.nodes.filter((n) => n.source?.line === line).at(-1)!.shape.join('×');
    const hints = await tab.evaluate(`[...document.querySelectorAll('.cm-line')].map((l) => l.querySelector('.sofar-shape')?.textContent ?? null)`);
    expect(hints).toEqual([null, null, null, null, ...[5, 6, 7, 8, 9].map((line) => ` → ${lastOnLine(line)}`), null, null]);

    const shared = tab.url();
    expect(specInAddress(shared)).toBe(GOOD);
    const other = await browser.newPage();
    await other.goto(shared);
    await other.waitForSelector('#drawing svg g.node');
    await analysed(other, GOOD);
    await other.close();
    await tab.close();
  }, 60_000);

  it('completes the arguments of a layer as you type, and the layers at the start of a line', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${server.url}playground.html`);
    await tab.waitForSelector('.cm-content');
    await setText(tab, GOOD);
    await analysed(tab, GOOD);
    // The end of line 6 (`  bn`), then an argument begun.
    await tab.keyboard.press('Control+Home');
    for (let i = 0; i < 5; i++) await tab.keyboard.press('ArrowDown');
    await tab.keyboard.press('End');
    const labels = () => tab.$$eval('.cm-tooltip-autocomplete .cm-completionLabel', (ls) => ls.map((l) => l.textContent));
    // After `bn `, Ctrl-Space offers bn's arguments (from the layer registry), not the layers.
    await tab.keyboard.type(' ');
    await tab.keyboard.press('Control+Space');
    await tab.waitForSelector('.cm-tooltip-autocomplete');
    const args = await labels();
    for (const arg of LAYERS.bn.args) expect(args).toContain(arg.name);
    expect(args).toContain('momentum');
    expect(args).not.toContain('bconv');
    // Typing narrows them down, with no Ctrl-Space.
    await tab.keyboard.press('Escape');
    await tab.keyboard.type('mo');
    await tab.waitForSelector('.cm-tooltip-autocomplete');
    expect(await labels()).toContain('momentum');
    // Taking it inserts `momentum=` (CodeMirror ignores Enter for 75 ms after the list opens).
    expect(await tab.textContent('.cm-tooltip-autocomplete li[aria-selected] .cm-completionLabel')).toBe('momentum');
    await tab.waitForTimeout(200);
    await tab.keyboard.press('Enter');
    await analysed(tab, GOOD.replace('  bn\n', '  bn momentum=\n'));

    // Ctrl-Space on an empty line offers the layers (all of them, from the registry).
    await tab.keyboard.press('End');
    await tab.keyboard.press('Enter');
    await tab.keyboard.press('Control+Space');
    await tab.waitForSelector('.cm-tooltip-autocomplete');
    const offered = await labels();
    for (const layer of Object.keys(LAYERS)) expect(offered).toContain(layer);
    await tab.close();
  }, 60_000);

  it('shows the output shape and precision of a layer on hover', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${server.url}playground.html`);
    await tab.waitForSelector('.cm-content');
    await setText(tab, GOOD);
    await analysed(tab, GOOD);
    const bconv = compile(GOOD, 'playground.sofar').graph!.nodes.find((n) => n.source?.line === 7 && n.op === 'conv')!;
    const at = await pointAt(tab, 7, 'bconv');
    await tab.mouse.move(at.x, at.y);
    const tooltip = await tab.waitForSelector('.cm-tooltip-hover .sofar-hover');
    const text = await tooltip.textContent();
    expect(text).toContain(`→ ${bconv.shape.join('×')}`);
    expect(text).toContain('binary');
    // The Markdown is rendered: the node's name is code, the shape bold.
    expect(await tooltip.$eval('strong', (s) => s.textContent)).toBe(bconv.shape.join('×'));
    expect(await tooltip.$$eval('code', (cs) => cs.map((c) => c.textContent))).toContain(bconv.name);
    await tab.close();
  }, 60_000);

  it('formats to the canonical text with the button and with Shift-Alt-F, and says why not on a syntax error', async () => {
    expect(formatSpec(GOOD)).toEqual({ ok: true, text: GOOD });
    const tab = await browser.newPage();
    await tab.goto(`${server.url}playground.html`);
    await tab.waitForSelector('.cm-content');
    await setText(tab, UGLY);
    await analysed(tab, UGLY);
    await tab.click('#format');
    await analysed(tab, GOOD);

    await setText(tab, UGLY);
    await analysed(tab, UGLY);
    await tab.keyboard.press('Shift+Alt+F');
    await analysed(tab, GOOD);

    await setText(tab, 'model tiny {\n  conv 3x3 (8\n}\n');
    await tab.click('#format');
    expect(await tab.textContent('#format-status')).toMatch(/^not formatted: playground\.sofar:\d+:\d+: /);
    await tab.close();
  }, 60_000);

  it('goes to the definition of a block with F12', async () => {
    const spec = GOOD.replace('  bconv 3x3 8\n', '  unit(8)\n').replace('  classes 3\n', '  classes 3\n  block unit(ch) {\n    bconv 3x3 ch\n  }\n');
    expect(compile(spec, 'playground.sofar').graph).toBeDefined();
    const tab = await browser.newPage();
    await tab.goto(`${server.url}playground.html`);
    await tab.waitForSelector('.cm-content');
    await setText(tab, spec);
    await analysed(tab, spec);
    const call = await pointAt(tab, 10, 'unit');
    await tab.mouse.click(call.x, call.y);
    await tab.keyboard.press('F12');
    // The selection is the block's name on line 4.
    const selected = await tab.evaluate(`(() => {
      const s = getSelection();
      return [s.toString(), [...document.querySelectorAll('.cm-line')].indexOf(s.anchorNode.parentElement.closest('.cm-line')) + 1];
    })()`);
    expect(selected).toEqual(['unit', 4]);
    await tab.close();
  }, 60_000);

  it('links the page and the playground to each other', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${server.url}playground.html`);
    await tab.click('a[href="index.html"]');
    await tab.waitForURL(/index\.html$/);
    await tab.click('a[href="playground.html"]');
    await tab.waitForURL(/playground\.html/);
    await tab.waitForSelector('.cm-content');
    await tab.close();
  }, 60_000);
});
