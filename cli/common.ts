/**
 * What every command shares: loading a spec into a checked graph, printing diagnostics, exit codes and
 * atomic output files. Commands never print stack traces; an unexpected exception is a SoFAr bug and
 * is shown in full only with --debug.
 */
import type { Command } from 'commander';
import { describeModelParams } from '../src/checkpoint/index.js';
import { readFileSync } from 'node:fs';
import { compileFile } from '../src/compile.js';
import { graphFromJson } from '../src/graph/json.js';
import { formatDiagnostic, hasErrors, SofarError, type Diagnostic } from '../src/diagnostics.js';
import type { Graph } from '../src/graph/types.js';

/** Exit codes of the command-line contract. */
export const EXIT = { ok: 0, userError: 1, usage: 2, interrupted: 130 } as const;

/** Wrong usage of the command line (exit 2). */
export class UsageError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A problem with the user's spec or data, already explained by diagnostics (exit 1). */
export class UserError extends Error {
  constructor(readonly diagnostics: Diagnostic[], readonly sources: ReadonlyMap<string, string> = new Map()) {
    super(diagnostics.map((d) => d.message).join('\n'));
    this.name = 'UserError';
  }
}

/** A command stopped by Ctrl-C after explaining what it kept (exit 130). */
export class InterruptedError extends UserError {
  override name = 'InterruptedError';
}

/** A plain user-facing failure without a source location (a missing file, bad data). */
export function userFailure(message: string, hint?: string): UserError {
  return new UserError([{ severity: 'error', code: 'user', message, ...(hint ? { hint } : {}) }]);
}

/**
 * A failed file operation (a folder where a file should go, no permission, a full disk) explained as a
 * user error naming the path; null for any other error. Paths of atomic writes' temporary siblings are
 * reported as the file being written.
 */
export function fileSystemFailure(e: unknown): UserError | null {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (!(e instanceof Error) || typeof err.code !== 'string' || typeof err.syscall !== 'string') return null;
  const reason = FS_REASONS[err.code];
  if (!reason) return null;
  const path = err.dest ?? (err.path ? err.path.replace(TEMP_SIBLING, '$1$2') : undefined);
  if (!path) return null;
  const action = err.syscall === 'mkdir' ? 'cannot create the folder' : err.syscall === 'open' || err.syscall === 'rename' ? 'cannot write' : `cannot ${err.syscall}`;
  return userFailure(`${action} ${path}: ${reason.message}`, reason.hint);
}

/** `dir/.name.<pid>.<hex>.tmp` → `dir/name` (see src/io/atomic.ts). */
const TEMP_SIBLING = /^(.*\/)?\.(.+)\.\d+\.[0-9a-f]{8}\.tmp$/;

const FS_REASONS: Record<string, { message: string; hint: string }> = {
  EISDIR: { message: 'a folder of that name is in the way', hint: 'give a file name (or remove the folder)' },
  EEXIST: { message: 'a file of that name is in the way', hint: 'give a folder name that is free (or remove the file)' },
  ENOTDIR: { message: 'part of the path is a file, not a folder', hint: 'check the path' },
  EACCES: { message: 'permission denied', hint: 'write somewhere you may write, e.g. under your home folder' },
  EPERM: { message: 'operation not permitted', hint: 'write somewhere you may write, e.g. under your home folder' },
  EROFS: { message: 'the file system is read-only', hint: 'write somewhere else' },
  ENOSPC: { message: 'the disk is full', hint: 'free some space or write elsewhere; nothing was left half-written' },
  ENOENT: { message: 'no such file or folder', hint: 'check the path' },
};

/**
 * Runs the command line. The one place where failures the library explains (a SofarError: a checkpoint
 * that does not fit, bad data, a run that cannot resume) and failed file operations become the CLI's
 * UserError, so that commands let them through and every caller (the `sofar` binary, in-process tests)
 * sees the same errors.
 */
export async function parseCommandLine(program: Command, argv: readonly string[]): Promise<void> {
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof SofarError) throw new UserError(e.diagnostics);
    throw fileSystemFailure(e) ?? e;
  }
}

let interruptOverride: (() => void) | null = null;

/**
 * Ctrl-C ends a command with exit code 130. Handled in JavaScript rather than by the default
 * immediate kill, so it lands between synchronous steps: an atomic write finishes or never starts, and
 * no temporary file is left behind. A command that can stop gracefully (training) takes it over.
 */
export function installInterruptHandler(): void {
  process.on('SIGINT', () => {
    if (interruptOverride) return interruptOverride();
    process.stderr.write('\ninterrupted\n');
    process.exit(EXIT.interrupted);
  });
}

/**
 * A reader that stops reading (`sofar bench … | head -3`) ends the command quietly with exit 0, as the pipe's
 * end closing ends a C program, not with an EPIPE stack trace from the next write.
 */
export function installClosedPipeHandler(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      process.exit(EXIT.ok);
    });
  }
}

/** Routes Ctrl-C to `handler` until the returned function is called. */
export function takeOverInterrupts(handler: () => void): () => void {
  interruptOverride = handler;
  return () => {
    if (interruptOverride === handler) interruptOverride = null;
  };
}

/** The most diagnostics shown in full; the rest are counted (the first ones are the ones that matter). */
const SHOWN = 25;

export function printDiagnostics(diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, string>): void {
  for (const d of diagnostics.slice(0, SHOWN)) process.stderr.write(formatDiagnostic(d, sources) + '\n');
  if (diagnostics.length > SHOWN) process.stderr.write(`... and ${diagnostics.length - SHOWN} more\n`);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  if (errors > 1) process.stderr.write(`${errors} errors\n`);
}

/** Throws a UserError when any diagnostic is an error; prints warnings otherwise. */
export function requireClean(diagnostics: Diagnostic[], sources: ReadonlyMap<string, string>): void {
  if (hasErrors(diagnostics)) throw new UserError(diagnostics, sources);
  printDiagnostics(diagnostics, sources);
}

/**
 * Writes a file atomically: to a flushed temporary sibling, then rename, so a failure never leaves a
 * half-written output behind.
 */
export { replaceFileAtomic as writeFileAtomic } from '../src/io/atomic.js';

/** An old spelling of a flag still works, with this note on stderr. */
export function noteDeprecated(old: string, now: string): void {
  process.stderr.write(`note: ${old} is deprecated; use ${now}\n`);
}

/** `--output PATH` (the old spelling) as `--out PATH`, with a note. */
export function outSpelling<T extends { out?: string; output?: string }>(flags: T): T {
  if (flags.output === undefined) return flags;
  noteDeprecated('--output', '--out (or -o)');
  if (flags.out !== undefined && flags.out !== flags.output) throw new UsageError('--out and --output are the same option', 'drop --output (the old spelling)');
  return { ...flags, out: flags.output, output: undefined };
}

/** Parses a positive integer option or throws a UsageError naming the flag. */
export function parsePositiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expects a positive whole number, got '${value}'`);
    return n;
  };
}

/** Parses a non-negative integer option (seeds). */
export function parseNonNegativeInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} expects a whole number ≥ 0, got '${value}'`);
    return n;
  };
}

export function parseNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got '${value}'`);
    return n;
  };
}

// ---------------------------------------------------------------- specs

export interface SpecFlags {
  model?: string;
  set?: string[];
  maxNodes?: number;
}

/** The options every command that reads a spec accepts. */
export function addSpecOptions(cmd: Command): Command {
  return cmd
    .option('--model <name>', 'which model to build when the file defines several')
    .option('--set <key=value>', "override a model parameter, e.g. --set columns=3 (repeatable)", (v: string, all: string[] = []) => [...all, v])
    .option('--max-nodes <n>', 'refuse expansions beyond this many nodes (default 1000000)', parsePositiveInt('--max-nodes'));
}

/** `columns=3` → { columns: 3 }; numbers and booleans are recognised, anything else is a name. */
export function parseSetFlags(flags: readonly string[] = []): Record<string, number | boolean | string> {
  const params: Record<string, number | boolean | string> = {};
  for (const flag of flags) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(flag);
    if (!m) throw new UsageError(`--set expects key=value, got '${flag}'`, 'for example --set columns=3');
    const raw = m[2];
    params[m[1]] = raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return params;
}

/** `['join=sum', 'columns=3']` → { join: 'sum', columns: '3' }: the values as written (the last one wins). */
export function setFlagMap(flags: readonly string[] = []): Record<string, string> {
  const map: Record<string, string> = {};
  for (const flag of flags) {
    const cut = flag.indexOf('=');
    if (cut > 0) map[flag.slice(0, cut).trim()] = flag.slice(cut + 1).trim();
  }
  return map;
}

/**
 * The spec flags for weights trained with the model parameters `recorded` (a checkpoint's, from
 * `from`): the --set values given, plus the recorded ones left out. A given value that differs from the
 * recorded one, or that the run left at the spec's default, is refused. Unknown records change nothing.
 */
export function withRecordedParams<T extends SpecFlags>(flags: T, recorded: Record<string, string> | undefined, from: string): T {
  if (!recorded) return flags;
  const given = setFlagMap(flags.set);
  const same = (a: string, b: string) => a.replace(/\s+/g, '') === b.replace(/\s+/g, '') || (a.trim() !== '' && Number.isFinite(Number(a)) && Number(a) === Number(b));
  for (const [key, value] of Object.entries(given)) {
    const was = recorded[key];
    if (was === undefined) {
      throw new UsageError(`--set ${key}=${value} contradicts ${from}, trained with the spec's default for '${key}' (${describeModelParams(recorded)})`, `drop --set ${key}: the recorded values are used when left out`);
    }
    if (!same(value, was)) {
      throw new UsageError(`--set ${key}=${value} contradicts ${from}, trained with --set ${key}=${was}`, `drop --set ${key}: the recorded values are used when left out`);
    }
  }
  const added = Object.entries(recorded).filter(([key]) => !(key in given));
  if (!added.length) return flags;
  return { ...flags, set: [...(flags.set ?? []), ...added.map(([k, v]) => `${k}=${v}`)] };
}

/**
 * Parses, elaborates and checks a spec, or reads a graph file (`build/NAME.graph.json`, as `sofar build`
 * and `sofar graph --format json` write it); throws UserError with diagnostics when it has errors.
 */
export function loadGraph(path: string, flags: SpecFlags = {}): { graph: Graph; sources: Map<string, string> } {
  if (/\.json$/i.test(path)) return loadGraphFile(path, flags);
  const result = compileFile(path, {
    ...(flags.model ? { model: flags.model } : {}),
    params: parseSetFlags(flags.set),
    ...(flags.maxNodes ? { nodeBudget: flags.maxNodes } : {}),
  });
  requireClean(result.diagnostics, result.sources);
  if (!result.graph) throw new UserError(result.diagnostics, result.sources);
  return { graph: result.graph, sources: result.sources };
}

/** A graph written as JSON: fixed, so --set and --model do not apply. */
function loadGraphFile(path: string, flags: SpecFlags): { graph: Graph; sources: Map<string, string> } {
  if (flags.set?.length || flags.model) throw new UsageError('--set and --model go with a spec; a graph file is fixed', 'give the .sofar file to change its parameters');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw userFailure(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message}`);
  }
  const { graph, diagnostics } = graphFromJson(text, path);
  const sources = new Map<string, string>();
  requireClean(diagnostics, sources);
  if (!graph) throw new UserError(diagnostics, sources);
  return { graph, sources };
}
