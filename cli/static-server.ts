/**
 * A small static file server, by default for the page of `npm run build` (dist/web): what `sofar serve`
 * runs, and what the browser benchmark serves its page with. Pages are served cross-origin isolated
 * (COOP same-origin, COEP require-corp), `.wasm` as application/wasm (streaming compilation), nothing
 * cached. GET and HEAD only; paths cannot leave DIR.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/web, next to the compiled CLI (dist/cli/static-server.js). */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

export interface StaticServer {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `dir` on host:port (port 0: a free one) until closed. */
export async function startStaticServer(dir: string, o: { port?: number; host?: string } = {}): Promise<StaticServer> {
  const root = resolve(dir);
  const server: Server = createServer((req, res) => handle(root, req, res));
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 8080, host, () => {
      server.off('error', fail);
      done();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

function handle(root: string, req: IncomingMessage, res: ServerResponse): void {
  const reply = (status: number, text: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...ISOLATION, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
    res.end(req.method === 'HEAD' ? undefined : `${text}\n`);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed', { Allow: 'GET, HEAD' });
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return reply(400, 'bad request');
  }
  if (path.includes('\0')) return reply(400, 'bad request');
  let file = resolve(join(root, path));
  if (file !== root && !file.startsWith(root + sep)) return reply(403, 'forbidden');
  if (existsSync(file) && statSync(file).isDirectory()) {
    if (!path.endsWith('/')) return reply(301, 'moved', { Location: `${path}/` });
    file = join(file, 'index.html');
  }
  if (!existsSync(file) || !statSync(file).isFile()) return reply(404, 'not found');
  res.writeHead(200, { ...ISOLATION, 'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': String(statSync(file).size) });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

