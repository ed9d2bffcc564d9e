/**
 * The CPU a figure is measured on, as a results file (bench/) or `sofar bench --json` records it: figures differ
 * between machines, and one without its CPU means little.
 */
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export interface CpuDetails {
  vendor: string | null;
  family: number | null;
  modelNumber: number | null;
  isa: string[];
  cacheKiB: { l2: number | null; l3: number | null };
}

/**
 * `/proc/cpuinfo`'s vendor, CPU family and model number, the SIMD extensions the kernels can use, and the
 * first core's L2 and the L3 in KiB (Linux; null elsewhere). Family 6 covers every Intel core of 15 years, and a
 * virtual machine's model name may be only "Intel(R) Xeon(R) Processor": the model number and the caches tell
 * such hosts apart.
 */
export function cpuDetails(): CpuDetails {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return { vendor: null, family: null, modelNumber: null, isa: [], cacheKiB: { l2: null, l3: null } };
  }
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim() ?? null;
  const whole = (v: string | null) => (v !== null && /^\d+$/.test(v) ? Number(v) : null);
  const flags = new Set((/^(?:flags|Features)\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
  const isa = ['avx2', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512_vpopcntdq', 'neon', 'asimd'].filter((f) => flags.has(f));
  return { vendor: field('vendor_id'), family: whole(field('cpu family')), modelNumber: whole(field('model')), isa, cacheKiB: { l2: cacheKiB(2), l3: cacheKiB(3) } };
}

/** The size in KiB of cpu0's cache of `level` (sysfs' "2048K" or "480M"); null where sysfs does not say. */
function cacheKiB(level: number): number | null {
  for (let index = 0; index < 8; index++) {
    const dir = `/sys/devices/system/cpu/cpu0/cache/index${index}`;
    try {
      if (readFileSync(join(dir, 'level'), 'utf8').trim() !== String(level)) continue;
      if (readFileSync(join(dir, 'type'), 'utf8').trim() === 'Instruction') continue;
      const size = /^(\d+)([KMG])$/.exec(readFileSync(join(dir, 'size'), 'utf8').trim());
      return size ? Number(size[1]) * { K: 1, M: 1024, G: 1024 * 1024 }[size[2] as 'K' | 'M' | 'G'] : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** The machine a figure is measured on: CPU count, model name, `cpuDetails`, memory and the date. */
export function machineRecord() {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    ...cpuDetails(),
    memoryGB: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

/** The CPU in one line: its model name, vendor, family and model number, and its CPU count. */
export function describeCpu(): string {
  const d = cpuDetails();
  const ids = [d.vendor, d.family !== null ? `family ${d.family}` : null, d.modelNumber !== null ? `model ${d.modelNumber}` : null].filter((x) => x !== null);
  const count = cpus().length;
  return `${cpus()[0]?.model?.trim() || 'unknown CPU'}${ids.length ? ` (${ids.join(', ')})` : ''}, ${count} CPU${count === 1 ? '' : 's'}`;
}
