/**
 * Learning-rate schedules over the whole run, as a function of the optimizer step (0-based) and the
 * total number of steps T:
 * - constant: lr;
 * - linear: lr · (1 − t/T), reaching 0 at the end;
 * - cosine: lr · ½(1 + cos(π t/T)), reaching 0 at the end (SGDR without restarts);
 * - step: lr, then ×0.1 from 50 % of the steps and ×0.01 from 75 %.
 */
export const SCHEDULES = ['constant', 'linear', 'cosine', 'step'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

export function learningRate(schedule: ScheduleName, base: number, step: number, totalSteps: number): number {
  const progress = totalSteps > 0 ? Math.min(Math.max(step / totalSteps, 0), 1) : 0;
  switch (schedule) {
    case 'constant':
      return base;
    case 'linear':
      return base * (1 - progress);
    case 'cosine':
      return base * 0.5 * (1 + Math.cos(Math.PI * progress));
    case 'step':
      return base * (progress >= 0.75 ? 0.01 : progress >= 0.5 ? 0.1 : 1);
  }
}
