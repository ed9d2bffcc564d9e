/**
 * `sofar serve`: static files with the right MIME types, cross-origin isolated (COOP/COEP), nothing
 * outside its folder, the built page by default; stopped cleanly by SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe } from './helpers.js';

/** A raw GET (no URL normalisation, so `..` reaches the server as sent). */
function get(url: string, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('latin1')));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('sofar serve', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sofar-serve-'));
  let server: Awaited<ReturnType<typeof startServe>>;

  beforeAll(async () => {
    mkdirSync(join(dir, 'site', 'models'), { recursive: true });
    writeFileSync(join(dir, 'site', 'index.html'), '<!doctype html><title>hi</title>');
    writeFileSync(join(dir, 'site', 'k.wasm'), new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    writeFileSync(join(dir, 'site', 'app.js'), 'export {};');
    writeFileSync(join(dir, 'site', 'models', 'm.onnx'), 'x');
    writeFileSync(join(dir, 'secret.txt'), 'outside');
    server = await startServe([join(dir, 'site')]);
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves files with their MIME type, cross-origin isolated', async () => {
    const wasm = await get(server.url, '/k.wasm');
    expect(wasm.status).toBe(200);
    expect(wasm.headers['content-type']).toBe('application/wasm');
    expect(wasm.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(wasm.headers['cross-origin-embedder-policy']).toBe('require-corp');
    expect(wasm.headers['content-length']).toBe('8');
    expect((await get(server.url, '/app.js')).headers['content-type']).toMatch(/^text\/javascript/);
    expect((await get(server.url, '/models/m.onnx')).headers['content-type']).toBe('application/octet-stream');
    const index = await get(server.url, '/');
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.body).toContain('<title>hi</title>');
    const head = await get(server.url, '/k.wasm', 'HEAD');
    expect([head.status, head.body]).toEqual([200, '']);
  });

  it('refuses what is not a file inside its folder', async () => {
    expect((await get(server.url, '/nothing.js')).status).toBe(404);
    expect((await get(server.url, '/../secret.txt')).status).not.toBe(200);
    expect((await get(server.url, '/%2e%2e/secret.txt')).status).not.toBe(200);
    expect((await get(server.url, '/..%2fsecret.txt')).status).toBe(403);
    expect((await get(server.url, '/models')).status).toBe(301);
    expect((await get(server.url, '/k.wasm', 'POST')).status).toBe(405);
  });

  it('serves the built page by default and stops on SIGTERM with exit 0', async () => {
    const page = await startServe();
    try {
      const index = await get(page.url, '/');
      expect(index.status, 'dist/web is built by npm run build').toBe(200);
      expect(index.body).toContain('SoFAr');
      expect((await get(page.url, '/sofar_kernels.wasm')).headers['content-type']).toBe('application/wasm');
    } finally {
      expect(await page.stop()).toBe(0);
    }
  });

  it('says what is wrong with a missing folder or a bad port', () => {
    const missing = spawnSync(process.execPath, ['dist/cli/main.js', 'serve', join(dir, 'nope')], { encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no folder at .*nope/);
    const port = spawnSync(process.execPath, ['dist/cli/main.js', 'serve', '--port', '70000'], { encoding: 'utf8' });
    expect(port.status).toBe(2);
  });
});
