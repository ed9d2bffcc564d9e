/**
 * `npm ci` in the clone is silent about install scripts (issue 24, item 3): package.json's allowScripts
 * decides every dependency's script (allowed or denied, with the reason in docs/deployment.md), so npm has none
 * left to warn about. The consumer's install is scripts/check-install.mjs's (a .ci/run step).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('install scripts', () => {
  it('every dependency with an install script is allowed or denied in package.json', () => {
    const r = spawnSync('npm', ['install-scripts', 'ls'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/No packages with unreviewed install scripts/);
  });

  it('the package itself has no install script (its native addon is prebuilt in prebuilds/)', () => {
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['preinstall', 'install', 'postinstall']) expect(scripts[name], name).toBeUndefined();
  });
});
