import { describe, expect, it } from 'vitest';
import { createProgressRenderer, formatDuration } from '../../cli/progress.js';
import type { TrainEvent } from '../../src/train/events.js';

class Sink {
  text = '';
  isTTY = false;
  write(chunk: string | Uint8Array): boolean {
    this.text += String(chunk);
    return true;
  }
}

const metrics = { epoch: 1, step: 10, lr: 0.001, trainLoss: 0.51234, trainAccuracy: 0.8, testLoss: 0.4, testAccuracy: 0.8512, samplesPerSecond: 1234.4, seconds: 75, rssMB: 100 };

function run(events: TrainEvent[], sink: Sink, interactive: boolean, clock: { t: number }, tick = 0) {
  const r = createProgressRenderer({ stream: sink as unknown as NodeJS.WritableStream, interactive, intervalMs: 1000, now: () => clock.t });
  for (const e of events) {
    r.onEvent(e);
    clock.t += tick;
  }
  r.stop();
}

const epoch: TrainEvent[] = [
  { type: 'start', engine: 'ort', device: 'cpu', epochs: 2, completedEpochs: 0, stepsPerEpoch: 10, batchSize: 32, trainSamples: 320, testSamples: 64 },
  { type: 'epoch-start', epoch: 1, epochs: 2, steps: 10 },
  ...Array.from({ length: 10 }, (_, i): TrainEvent => ({ type: 'step', epoch: 1, step: i + 1, steps: 10, loss: 1 - i / 20, accuracy: 0.5, samplesPerSecond: 64, lr: 0.001 })),
  { type: 'validate', epoch: 1 },
  { type: 'checkpoint', epoch: 1, step: 10, path: 'x' },
  { type: 'epoch-end', metrics, epochs: 2 },
];

describe('progress rendering', () => {
  it('the header counts steps and epochs in plain words', () => {
    const header = (completedEpochs: number, epochs: number, stepsPerEpoch: number) => {
      const sink = new Sink();
      run([{ type: 'start', engine: 'ort', device: 'cpu', epochs, completedEpochs, stepsPerEpoch, batchSize: 32, trainSamples: 32, testSamples: 8 }], sink, false, { t: 0 });
      return sink.text.trim().split(', ').slice(-2).join(', ');
    };
    expect(header(0, 1, 1)).toBe('1 step an epoch, epoch 1');
    expect(header(1, 3, 7)).toBe('7 steps an epoch, epochs 2–3');
    expect(header(2, 2, 7)).toBe('7 steps an epoch, 2 epochs done already');
    expect(header(2, 1, 7)).toBe('7 steps an epoch, 2 epochs done already (more than --epochs 1)');
  });


  it('without a terminal: a header, throttled step lines with ETA, and one line per epoch', () => {
    const sink = new Sink();
    // Each event takes 0.5 s, so a line is due every other step.
    run(epoch, sink, false, { t: 0 }, 500);
    const lines = sink.text.trim().split('\n');
    expect(lines[0]).toBe('training on ort (cpu): 320 training and 64 test samples, batch 32, 10 steps an epoch, epochs 1–2');
    const stepLines = lines.filter((l) => l.startsWith('epoch 1 step'));
    expect(stepLines.length).toBe(4);
    // After step 2 (1 s), 8 steps of 0.5 s remain.
    expect(stepLines[0]).toBe('epoch 1 step 2/10  loss 0.9500  acc 50.00%  64.0 samples/s  ETA 4s');
    expect(lines[lines.length - 1]).toBe('epoch 1/2  loss 0.5123  acc 80.00%  test loss 0.4000  test acc 85.12%  1234 samples/s  1m15s');
    expect(sink.text).not.toMatch(/\u001b\[/);
  });

  it('on a terminal: a progress bar with loss, accuracy, samples/s and ETA, cleared for the epoch line', () => {
    const sink = new Sink();
    sink.isTTY = true;
    run(epoch, sink, true, { t: 0 });
    expect(sink.text).toMatch(/epoch 1\/2 .* \d+\/10 \| loss \d\.\d{4} \| acc 50\.00% \| 64\.0 samples\/s \| ETA /);
    expect(sink.text).toContain('epoch 1/2  loss 0.5123');
  });

  it('announces a resume and notices', () => {
    const sink = new Sink();
    run(
      [
        { type: 'resume', path: 'runs/m/checkpoint.safetensors', epoch: 3, step: 30, engine: 'tfjs' },
        { type: 'notice', message: 'epochs changed on resume: 3 → 5' },
      ],
      sink,
      false,
      { t: 0 },
    );
    expect(sink.text).toBe('resuming runs/m/checkpoint.safetensors: epoch 3 done, step 30 (written by the tfjs engine)\nnote: epochs changed on resume: 3 → 5\n');
  });

  it('formats durations', () => {
    expect([0, 59.4, 61, 3600, 3725, Infinity].map(formatDuration)).toEqual(['0s', '59s', '1m01s', '1h00m', '1h02m', '?']);
  });
});
