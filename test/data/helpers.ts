/** Test data built by hand from the formats' descriptions. */

/** An IDX file by hand: 0, 0, type, rank, big-endian u32 dims, then the bytes. */
export function idxBytes(dims: number[], values: number[], type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(values)]);
}
