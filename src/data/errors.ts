/**
 * Problems with the user's data (a missing file, a corrupt archive, a shape that does not fit the
 * model). They are reported as SofarError diagnostics: the CLI renders them and exits with code 1.
 */
import { error, SofarError } from '../diagnostics.js';

export function dataError(message: string, hint?: string): SofarError {
  return new SofarError([error('data', message, undefined, hint)]);
}
