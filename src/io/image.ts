/** PNG and JPEG images as CHW float32 in [0, 1], through pngjs and jpeg-js. */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel, row-major. */
  rgba: Uint8Array;
}

/** Decodes by content (PNG or JPEG signature); throws an Error with the decoder's reason otherwise. */
export function decodeImage(bytes: Uint8Array): DecodedImage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    const png = PNG.sync.read(buffer);
    return { width: png.width, height: png.height, rgba: png.data };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const img = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true });
    return { width: img.width, height: img.height, rgba: img.data };
  }
  throw new Error('not a PNG or JPEG image');
}

/**
 * The image as `[channels, H, W]` in [0, 1]: 3 channels take R, G, B; 1 channel takes the luma
 * (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B), which is the grey value itself for a grey image.
 */
export function imageToChw(img: DecodedImage, channels: 1 | 3): Float32Array {
  const pixels = img.width * img.height;
  const out = new Float32Array(channels * pixels);
  for (let p = 0; p < pixels; p++) {
    const [r, g, b] = [img.rgba[4 * p], img.rgba[4 * p + 1], img.rgba[4 * p + 2]];
    if (channels === 1) out[p] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else {
      out[p] = r / 255;
      out[pixels + p] = g / 255;
      out[2 * pixels + p] = b / 255;
    }
  }
  return out;
}
