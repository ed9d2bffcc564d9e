/**
 * The playground (dist/web/playground.html, served by `sofar serve`) in headless Chromium: the example
 * compiles and is drawn, a broken spec typed in shows its error at the right line and column, fixing it
 * brings the drawing back, and the address carries the spec.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/web.js';
import { compile } from '../../src/compile-text.js';
import { skipWithout } from '../helpers/requirements.js';
import { chromiumMissing, startServe } from '../web/helpers.js';

type Browser = Awaited<ReturnType<typeof launchChromium>>;
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
    const expected = compile(BROKEN, 'playground.sofar').diagnostics.find((d) => d.severity === 'error')!;
    expect(expected.span!.line).toBe(6);

    await tab.fill('#spec', BROKEN);
    await tab.waitForSelector('#diagnostics li.error');
    const item = tab.locator('#diagnostics li.error').first();
    expect(await item.getAttribute('data-line')).toBe(String(expected.span!.line));
    expect(await item.getAttribute('data-column')).toBe(String(expected.span!.column));
    expect(await item.textContent()).toContain(expected.message);
    expect(await tab.getAttribute('#marks .line.error', 'data-line')).toBe('6');

    await tab.fill('#spec', GOOD);
    // Wait for the new spec's drawing, not just for the error to clear: the layout runs after the
    // diagnostics update, and until it lands the example's drawing is still on the page. (The page's
    // own code, as a string: the test project has no DOM types.)
    const nodes = compile(GOOD, 'playground.sofar').graph!.nodes.length;
    await tab.waitForFunction(
      `document.body.dataset.nodes === '${nodes}' && document.querySelectorAll('#drawing g.node').length === ${nodes} && !document.querySelector('#diagnostics li.error')`,
    );
    expect(await tab.$$eval('#drawing g.node', (n) => n.length)).toBe(nodes);
    expect(await tab.textContent('#summary')).toContain('tiny');

    const shared = tab.url();
    expect(shared).toMatch(/#spec=/);
    const other = await browser.newPage();
    await other.goto(shared);
    await other.waitForSelector('#drawing svg g.node');
    expect(await other.inputValue('#spec')).toBe(GOOD);
    await other.close();
    await tab.close();
  }, 60_000);
});
