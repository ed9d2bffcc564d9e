/**
 * Training-time augmentation for CIFAR: the standard recipe of ResNet and Bi-Real Net — pad each image
 * by 4 pixels, crop a random window of the original size, then flip it horizontally with probability
 * 1/2 (torchvision's RandomCrop(32, padding=4) followed by RandomHorizontalFlip). The padding is
 * black, i.e. the normalised value of a zero pixel per channel, as when padding before normalising.
 */
import type { Random } from '../random.js';

export interface CropFlip {
  kind: 'crop-flip';
  pad: number;
  /** Per channel: the value padded cells take (normalised black). */
  fill: number[];
}

export type Augmentation = CropFlip;

/**
 * Augments the `n` NCHW samples of `x` in place. Per sample the draws are, in order: the vertical
 * offset, the horizontal offset (each uniform in 0..2·pad) and the flip (uniform < 1/2).
 */
export function augmentBatch(aug: Augmentation, x: Float32Array, n: number, shape: readonly number[], rng: Random): void {
  const [channels, height, width] = shape;
  const sampleSize = channels * height * width;
  const scratch = new Float32Array(sampleSize);
  const span = 2 * aug.pad + 1;
  for (let i = 0; i < n; i++) {
    const dy = rng.int(span) - aug.pad;
    const dx = rng.int(span) - aug.pad;
    const flip = rng.uniform() < 0.5;
    const sample = x.subarray(i * sampleSize, (i + 1) * sampleSize);
    scratch.set(sample);
    for (let c = 0; c < channels; c++) {
      const plane = c * height * width;
      for (let r = 0; r < height; r++) {
        const sr = r + dy;
        for (let col = 0; col < width; col++) {
          // The output column `col` shows the crop's column `width − 1 − col` when flipped.
          const sc = (flip ? width - 1 - col : col) + dx;
          const inside = sr >= 0 && sr < height && sc >= 0 && sc < width;
          sample[plane + r * width + col] = inside ? scratch[plane + sr * width + sc] : aug.fill[c];
        }
      }
    }
  }
}
