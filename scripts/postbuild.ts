/** After `tsc`: make the CLI entry executable (tsc keeps the shebang but not the file mode). */
import { chmodSync } from 'node:fs';

chmodSync(new URL('../cli/main.js', import.meta.url), 0o755);
