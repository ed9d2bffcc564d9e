#!/usr/bin/env node
/**
 * The `sofar` command line: wires the front end and the backends together (the only place that does).
 * Exit codes: 0 success, 1 a problem in the user's spec, data or files, 2 wrong usage, 70 a bug in SoFAr,
 * 130 interrupted (Ctrl-C).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT, installClosedPipeHandler, installInterruptHandler, InterruptedError, parseCommandLine, printDiagnostics, UsageError, UserError } from './common.js';
import { register as registerBench } from './commands/bench.js';
import { register as registerBuild } from './commands/build.js';
import { register as registerCheck } from './commands/check.js';
import { register as registerCompare } from './commands/compare.js';
import { register as registerConvert } from './commands/convert.js';
import { register as registerEval } from './commands/eval.js';
import { register as registerFit } from './commands/fit.js';
import { register as registerFmt } from './commands/fmt.js';
import { register as registerGraph } from './commands/graph.js';
import { register as registerLsp } from './commands/lsp.js';
import { register as registerPlot } from './commands/plot.js';
import { register as registerRun } from './commands/run.js';
import { register as registerServe } from './commands/serve.js';
import { register as registerSummary } from './commands/summary.js';
import { register as registerSweep } from './commands/sweep.js';
import { register as registerTrain } from './commands/train.js';

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; peerDependencies?: Record<string, string> };
const version = manifest.version;

/**
 * The optional dependency (package.json's optional peerDependencies: onnxruntime-node, TensorFlow.js,
 * ...) a command needed and this install lacks, with the version SoFAr was measured with; else null.
 */
function missingOptional(e: unknown): { name: string; version: string } | null {
  if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') return null;
  const name = /Cannot find package '([^']+)'/.exec((e as Error).message)?.[1];
  const pinned = name ? manifest.peerDependencies?.[name] : undefined;
  return name && pinned ? { name, version: pinned } : null;
}

function buildProgram(): Command {
  const program = new Command('sofar')
    .description('SoFAr: shortcut-based fractal architectures for binary CNNs — a language, a typed graph, ONNX and TensorFlow.js backends')
    .version(version)
    .option('--debug', 'show stack traces of internal errors')
    .showHelpAfterError('(run sofar --help for usage)')
    .exitOverride();
  for (const register of [registerCheck, registerFmt, registerSummary, registerCompare, registerFit, registerGraph, registerBuild, registerConvert, registerRun, registerBench, registerTrain, registerEval, registerSweep, registerPlot, registerServe, registerLsp]) register(program);
  for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError(`(run sofar ${cmd.name()} --help for usage)`);
  return program;
}

/** `sofar train --help` when the command line names a subcommand, else `sofar --help`. */
function helpCommand(program: Command, argv: string[]): string {
  const names = new Set(program.commands.map((c) => c.name()));
  const sub = argv.slice(2).find((a) => !a.startsWith('-'));
  return sub && names.has(sub) ? `sofar ${sub} --help` : 'sofar --help';
}

async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  installInterruptHandler();
  installClosedPipeHandler();
  const program = buildProgram();
  try {
    await parseCommandLine(program, argv);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end here too; commander has already printed them. Help shown because no
      // command was given (commander's exit code 1) is wrong usage.
      const help = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help';
      return help && e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n${e.hint ? `  = hint: ${e.hint}\n` : ''}(run ${helpCommand(program, argv)} for usage)\n`);
      return EXIT.usage;
    }
    if (e instanceof InterruptedError) {
      printDiagnostics(e.diagnostics, e.sources);
      return EXIT.interrupted;
    }
    if (e instanceof UserError) {
      printDiagnostics(e.diagnostics, e.sources);
      return EXIT.userError;
    }
    const missing = missingOptional(e);
    if (missing) {
      const sub = helpCommand(program, argv).replace(/ --help$/, '');
      process.stderr.write(`error: ${sub} needs ${missing.name}, an optional dependency that is not installed\n  = hint: npm install ${missing.name}@${missing.version.replace(/^\^/, '')} (README: Set-up)\n`);
      return EXIT.userError;
    }
    process.stderr.write(`internal error: ${(e as Error).message ?? String(e)}\n`);
    process.stderr.write(debug ? `${(e as Error).stack ?? ''}\n` : 'this is a bug in SoFAr; run again with --debug for details and report it\n');
    return 70;
  }
}

process.exitCode = await main(process.argv);
