/**
 * `npx sofar` as a user types it inside the project: no npm warning on each command (issue 15), help
 * through `npx sofar help`, and onnxruntime-node's CUDA download kept off by `allowScripts`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const npx = (...args: string[]) => {
  const r = spawnSync('npx', ['--offline', 'sofar', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('npx sofar', () => {
  it('prints the version and no npm warning', () => {
    const r = npx('--version');
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
    expect(r.err).not.toMatch(/npm warn/i);
  });

  it('help shows SoFAr’s usage (npx keeps --help for itself)', () => {
    const r = npx('help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: sofar /);
    expect(r.err).not.toMatch(/npm warn/i);
    expect(npx('help', 'graph').out).toMatch(/^Usage: sofar graph /);
  });

  it('denies onnxruntime-node its install script (the CUDA download) in package.json, not in .npmrc', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
    expect(existsSync('.npmrc') && /onnxruntime-node-install/.test(readFileSync('.npmrc', 'utf8'))).toBe(false);
    expect(existsSync('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so')).toBe(false);
  });
});
