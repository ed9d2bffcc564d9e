/**
 * `sofar lsp --stdio`: the language server for editors (cli/lsp-server.ts), loaded only when asked for,
 * so that no other command pays for the protocol library.
 */
import type { Command } from 'commander';
import { UsageError } from '../common.js';

export function register(program: Command): void {
  program
    .command('lsp')
    .description('the language server for editors (Language Server Protocol over stdin/stdout)')
    .option('--stdio', 'talk over stdin and stdout (the only transport)')
    .action(async (flags: { stdio?: boolean }) => {
      if (!flags.stdio) throw new UsageError('sofar lsp talks over stdin/stdout: give --stdio', 'editors start it as: sofar lsp --stdio');
      const { serveStdio } = await import('../lsp-server.js');
      serveStdio();
      // The server runs until the editor closes the connection (its exit notification ends the process).
      await new Promise<void>(() => {});
    });
}
