/**
 * The runtime's choice among candidate sample splits (split.ts), made from the times of its first runs: the
 * outputs are the same at every split, so the runs that try them cost only their time.
 */

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Timed rounds of a trial after its first (untimed: the one-sample plan's maps are first touched there). */
export const TRIAL_ROUNDS = 5;

/**
 * The runtime's choice among candidate splits, from the times of its first runs: each round runs every
 * candidate once (the order reversed each round, so none always follows another), the first round untimed;
 * after TRIAL_ROUNDS timed rounds the candidate kept for good is the one whose time over its round's mean
 * has the lowest median — a shared machine's fast and slow phases move whole rounds, and a ratio within a
 * round cancels that. A single candidate is kept at once. Plain data in, a count out: the caller times.
 */
export class SplitTrial {
  private readonly times: number[][];
  private run = 0;
  private kept: number | null;

  constructor(readonly candidates: readonly number[]) {
    if (candidates.length === 0) throw new Error('SplitTrial: no candidates');
    this.times = candidates.map(() => []);
    this.kept = candidates.length === 1 ? candidates[0] : null;
  }

  /** Whether the trial is over. */
  get settled(): boolean {
    return this.kept !== null;
  }

  /** The split the next run uses. */
  next(): number {
    return this.kept ?? this.candidates[this.slot()];
  }

  /** The time of the run that used next()'s split. */
  record(ms: number): void {
    if (this.kept !== null) return;
    const round = Math.floor(this.run / this.candidates.length);
    if (round > 0) this.times[this.slot()].push(ms);
    this.run++;
    if (this.run === (TRIAL_ROUNDS + 1) * this.candidates.length) {
      const roundMean = (r: number) => this.times.reduce((sum, t) => sum + t[r], 0) / this.times.length;
      const means = Array.from({ length: TRIAL_ROUNDS }, (_, r) => roundMean(r));
      const scores = this.times.map((t) => median(t.map((ms, r) => ms / means[r])));
      this.kept = this.candidates[scores.indexOf(Math.min(...scores))];
    }
  }

  /** Each candidate's timed runs so far, in milliseconds (for reports). */
  get trialTimes(): readonly (readonly number[])[] {
    return this.times;
  }

  private slot(): number {
    const n = this.candidates.length;
    const round = Math.floor(this.run / n), i = this.run % n;
    return round % 2 === 0 ? i : n - 1 - i;
  }
}
