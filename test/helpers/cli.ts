/** The `sofar` command line run in-process through commander, for the CLI tests. */
import { Command } from 'commander';
import { vi } from 'vitest';
import { parseCommandLine } from '../../cli/common.js';

type Register = (program: Command) => void;

/**
 * `sofar(...args)` with the given commands registered: parses the arguments as the CLI would and returns
 * what was printed on stdout. Errors throw instead of exiting, as the binary sees them (a library's
 * SofarError already a UserError). `muteStderr` keeps notes and progress off the test output (a test
 * that reads stderr spies on it itself and leaves this off).
 */
export function inProcessCli(registers: readonly Register[], o: { muteStderr?: boolean } = {}): (...args: string[]) => Promise<string> {
  return async (...args) => {
    const program = new Command('sofar').exitOverride();
    for (const register of registers) register(program);
    for (const c of program.commands) c.exitOverride();
    let out = '';
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
    const stderr = o.muteStderr ? vi.spyOn(process.stderr, 'write').mockImplementation(() => true) : null;
    try {
      await parseCommandLine(program, ['node', 'sofar', ...args]);
    } finally {
      stdout.mockRestore();
      stderr?.mockRestore();
    }
    return out;
  };
}
