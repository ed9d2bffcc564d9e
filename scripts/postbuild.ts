/**
 * After `tsc`: make the CLI entry executable (tsc keeps the shebang but not the file mode), and copy
 * the Python sources of the PyTorch backend, which tsc does not see, beside its compiled modules.
 */
import { chmodSync, cpSync } from 'node:fs';

chmodSync(new URL('../cli/main.js', import.meta.url), 0o755);
cpSync(new URL('../../backends/torch/python/', import.meta.url), new URL('../backends/torch/python/', import.meta.url), { recursive: true });
