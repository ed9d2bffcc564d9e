/** Reading a sweep folder's results for the commands that show them (sofar plot --pareto, sofar compare). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseResults, RESULTS_JSONL, studyPoints, type SweepPoint } from '../src/sweep.js';
import { userFailure } from './common.js';

/** The study points of a sweep folder (sofar sweep --out DIR): mean and spread over seeds of each setting. */
export function loadSweepPoints(dir: string): SweepPoint[] {
  const file = join(dir, RESULTS_JSONL);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw userFailure(`no sweep results at ${file}`, 'give the folder of sofar sweep --out DIR (sofar sweep --collect DIR gathers its results)');
  }
  const points = studyPoints(parseResults(text));
  if (!points.length) throw userFailure(`${file} has no finished runs yet`, 'plot it once a run of the sweep has finished');
  return points;
}

