/**
 * Renders training events for people: on a terminal, a cli-progress bar per epoch with the running
 * loss, accuracy, samples/s and ETA, then one summary line per epoch; elsewhere (a pipe, a CI log) plain
 * lines at most every `intervalMs` and one per epoch, so logs stay readable and short.
 */
import cliProgress from 'cli-progress';
import type { TrainEvent } from '../src/train/events.js';
import type { EpochMetrics } from '../src/train/metrics.js';

export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean };
  /** Default: whether `stream` is a terminal. */
  interactive?: boolean;
  /** Plain mode: the least time between two progress lines within an epoch (default 10 s). */
  intervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface ProgressRenderer {
  onEvent(event: TrainEvent): void;
  /** Removes a bar left open (an interrupted run). */
  stop(): void;
}

const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
const rate = (x: number) => (x >= 100 ? Math.round(x).toString() : x.toFixed(1));

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** `  flips 0.013%`: the mean share of binary weights a step flipped; nothing for a model without any. */
function flips(ratio: number | undefined): string {
  return ratio === undefined ? '' : `  flips ${(100 * ratio).toPrecision(2)}%`;
}

export function formatEpochLine(m: EpochMetrics, epochs: number): string {
  return (
    `epoch ${m.epoch}/${epochs}  loss ${m.trainLoss.toFixed(4)}  acc ${percent(m.trainAccuracy)}  ` +
    `test loss ${m.testLoss.toFixed(4)}  test acc ${percent(m.testAccuracy)}${flips(m.flipRatio)}  ${rate(m.samplesPerSecond)} samples/s  ${formatDuration(m.seconds)}`
  );
}

export function createProgressRenderer(options: ProgressOptions): ProgressRenderer {
  const { stream } = options;
  const interactive = options.interactive ?? Boolean(stream.isTTY);
  const interval = options.intervalMs ?? 10_000;
  const now = options.now ?? (() => Date.now());
  const write = (line: string) => stream.write(line + '\n');
  let bar: cliProgress.SingleBar | null = null;
  let lastLine = 0;
  let epochStarted = 0;

  const stopBar = () => {
    bar?.stop();
    bar = null;
  };

  return {
    stop: stopBar,
    onEvent(e) {
      switch (e.type) {
        case 'start':
          {
            const done = e.completedEpochs >= e.epochs;
            const epochs = done ? `${plural(e.completedEpochs, 'epoch')} done already${e.completedEpochs > e.epochs ? ` (more than --epochs ${e.epochs})` : ''}` : e.completedEpochs + 1 === e.epochs ? `epoch ${e.epochs}` : `epochs ${e.completedEpochs + 1}–${e.epochs}`;
            write(
              `training on ${e.engine} (${e.device}): ${e.trainSamples} training and ${e.testSamples} test samples, ` +
                `batch ${e.batchSize}, ${plural(e.stepsPerEpoch, 'step')} an epoch, ${epochs}`,
            );
          }
          return;
        case 'resume':
          write(`resuming ${e.path}: epoch ${e.epoch} done, step ${e.step} (written by the ${e.engine} engine)`);
          return;
        case 'notice':
          write(`note: ${e.message}`);
          return;
        case 'epoch-start':
          epochStarted = lastLine = now();
          if (interactive) {
            bar = new cliProgress.SingleBar(
              {
                stream,
                format: `epoch ${e.epoch}/${e.epochs} {bar} {value}/{total} | loss {loss} | acc {acc}{flips} | {rate} samples/s | ETA {eta_formatted}`,
                barsize: 24,
                hideCursor: true,
                clearOnComplete: true,
                etaBuffer: 20,
                fps: 5,
              },
              cliProgress.Presets.shades_classic,
            );
            bar.start(e.steps, 0, { loss: '-', acc: '-', flips: '', rate: '-' });
          }
          return;
        case 'step':
          if (bar) {
            bar.update(e.step, { loss: e.loss.toFixed(4), acc: percent(e.accuracy), flips: e.flipRatio === undefined ? '' : ` | flips ${(100 * e.flipRatio).toPrecision(2)}%`, rate: rate(e.samplesPerSecond) });
          } else if (now() - lastLine >= interval && e.step < e.steps) {
            lastLine = now();
            const eta = ((now() - epochStarted) / 1000 / e.step) * (e.steps - e.step);
            write(
              `epoch ${e.epoch} step ${e.step}/${e.steps}  loss ${e.loss.toFixed(4)}  acc ${percent(e.accuracy)}${flips(e.flipRatio)}  ${rate(e.samplesPerSecond)} samples/s  ETA ${formatDuration(eta)}`,
            );
          }
          return;
        case 'validate':
          stopBar();
          return;
        case 'epoch-end':
          stopBar();
          write(formatEpochLine(e.metrics, e.epochs));
          return;
        case 'checkpoint':
          return;
      }
    },
  };
}

/** `1 step`, `7 steps`. */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
