/**
 * `sofar serve [DIR] [--port N] [--host H]`: the static file server of ../static-server.ts on the page
 * of `npm run build` (dist/web) or DIR. Ctrl-C stops it.
 */
import type { Command } from 'commander';
import { parseNonNegativeInt, takeOverInterrupts, UsageError, userFailure } from '../common.js';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_WEB_DIR, startStaticServer, type StaticServer } from '../static-server.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the browser page (dist/web, built by npm run build) or DIR over HTTP, cross-origin isolated')
    .argument('[dir]', 'the folder to serve (default: the built page)')
    .option('--port <n>', 'port (0: any free port)', parseNonNegativeInt('--port'), 8080)
    .option('--host <host>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .action(async (dir: string | undefined, flags: { port: number; host: string }) => {
      if (flags.port > 65535) throw new UsageError(`--port must be 0 to 65535, not ${flags.port}`);
      const target = dir ?? DEFAULT_WEB_DIR;
      if (!existsSync(target) || !statSync(target).isDirectory()) {
        throw userFailure(`no folder at ${target}`, dir ? undefined : 'build the page first: npm run build');
      }
      let server: StaticServer;
      try {
        server = await startStaticServer(target, flags);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw userFailure(`cannot listen on ${flags.host}:${flags.port}: ${code === 'EADDRINUSE' ? 'the port is in use' : (e as Error).message}`, code === 'EADDRINUSE' ? 'pick another with --port N (0: any free port)' : undefined);
      }
      process.stdout.write(`serving ${resolve(target)} at ${server.url} (Ctrl-C to stop)\n`);
      await new Promise<void>((stopped) => {
        const release = takeOverInterrupts(() => {
          release();
          void server.close().then(stopped);
        });
        process.once('SIGTERM', () => void server.close().then(stopped));
      });
    });
}
