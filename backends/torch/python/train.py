import argparse
import gzip
import json
import math
import os
import random
import struct
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as spec  # noqa: E402  (model.py beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))

# Data sets: where Debian's dataset-* packages put them, and SoFAr's normalisation (src/data):
# pixels / 255, then (x - mean_c) / std_c with the training images' published statistics.
DATA_DIRS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist",
             "cifar10": "/usr/share/datasets/cifar-10"}
NORMALISATION = {"fashion-mnist": ([0.286], [0.353]), "mnist": ([0.1307], [0.3081]),
                 "cifar10": ([0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616])}
# A folder of images has no published statistics; ImageNet's are what such models are trained with.
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# SoFAr's optimiser constants (src/train/engine.ts BOP_DEFAULTS, backends/ort-train/optimizer.ts ADAM).
BOP_DEFAULTS = {"threshold": 1e-8, "gamma": 1e-4}
ADAM = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=f"Train {spec.SPEC} with DistributedDataParallel. Launch with torchrun, e.g. "
        "torchrun --standalone --nproc_per_node 2 train.py --data fashion-mnist (one process: python3 train.py ...).",
    )
    p.add_argument("--data", default="fashion-mnist",
                   help="fashion-mnist, mnist, cifar10, or a folder: IDX files, CIFAR-10 binary batches, or "
                   "train/ and val/ (or test/) folders with one subfolder of JPEG/PNG images per class")
    p.add_argument("--epochs", type=int, default=10, help="epochs to train in all (default 10)")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size PER PROCESS; the global batch is this times the number of processes "
                   "(default 128 in all, split over the processes; on --resume, the run's)")
    p.add_argument("--lr", type=float, default=1e-3, help="base learning rate (default 1e-3)")
    p.add_argument("--optimizer", choices=["adam", "sgd", "bop"], default="adam",
                   help="adam (default), sgd, or bop: flips binary weights, Adam for the float ones")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--bop-threshold", type=float, default=None,
                   help=f"Bop's threshold: a binary weight flips when its gradient average passes it (default {BOP_DEFAULTS['threshold']})")
    p.add_argument("--bop-gamma", type=float, default=None,
                   help=f"Bop's adaptivity rate of the gradient average, in (0, 1] (default {BOP_DEFAULTS['gamma']})")
    p.add_argument("--schedule", choices=["constant", "linear", "cosine", "step"], default="cosine")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay on float kernels")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample order and every random mask")
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N training samples (and a proportional share of the test set)")
    p.add_argument("--out", default=None, help=f"checkpoints and metrics (default runs/{spec.SPEC})")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint "
                   "(written by this script or by either SoFAr engine)")
    p.add_argument("--init", default=None, metavar="RUN",
                   help="start from another run's weights (a run folder or checkpoint, of any engine) where names "
                   "and shapes match; the rest keep init.safetensors' values (beside this file: SoFAr's seeded init, "
                   "or the --weights given to sofar build). No optimizer state, epoch 1. 'none': torch's own initialisation")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="also checkpoint every N optimizer steps within an epoch (Ctrl-C keeps the latest; "
                   "--resume continues from it exactly)")
    p.add_argument("--teacher", default=None, metavar="MODEL",
                   help="distil from a teacher: a PyTorch project folder (sofar build TEACHER.sofar --target torch; its "
                   "init.safetensors, or --teacher-weights) or a model.onnx (needs the onnxruntime package); "
                   "loss = cross-entropy + w KL(softmax(teacher) || softmax(student))")
    p.add_argument("--teacher-weights", default=None, metavar="RUN", help="the teacher project's trained run (folder or checkpoint)")
    p.add_argument("--distill-weight", type=float, default=None, metavar="W", help="the weight w of the KL term (default 1 with --teacher)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--amp", action="store_true", help="mixed precision (float16 autocast) on CUDA")
    p.add_argument("--no-sync-bn", dest="sync_bn", action="store_false",
                   help="batch statistics per process instead of over the global batch (faster, but the "
                   "result then depends on the number of processes)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per process (default: cores / processes)")
    p.add_argument("--workers", type=int, default=4, help="data-loading processes for image folders")
    p.add_argument("--json", action="store_true", help="end with one JSON line: epochs, samplesPerSecond, trainLoss, testAccuracy")
    args = p.parse_args(argv)
    for name in ("epochs", "batch", "limit", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} expects a whole number >= 1, got {value}")
    if args.distill_weight is not None and not (args.distill_weight >= 0 and math.isfinite(args.distill_weight)):
        p.error(f"--distill-weight expects a number >= 0, got {args.distill_weight}")
    if args.init is not None and args.resume:
        p.error("--init starts a new run; --resume continues one: drop one of them")
    if not args.lr > 0:
        p.error(f"--lr expects a number > 0, got {args.lr}")
    if not 0 <= args.momentum < 1:
        p.error(f"--momentum expects a number in [0, 1), got {args.momentum}")
    if args.bop_threshold is not None and not args.bop_threshold >= 0:
        p.error(f"--bop-threshold expects a number >= 0, got {args.bop_threshold}")
    if args.bop_gamma is not None and not 0 < args.bop_gamma <= 1:
        p.error(f"--bop-gamma expects a number in (0, 1], got {args.bop_gamma} (Bop uses about 1e-4)")
    return args


# ---- data -------------------------------------------------------------------------------------------

class Fail(Exception):
    """A problem with the user's data or options: printed without a stack trace, exit code 1."""


class ImageTensors(Dataset):
    """Images held in memory as uint8 NCHW; normalised on the device, batch by batch."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise Fail(f"{path} is not an IDX file of unsigned bytes")
    rank = raw[3]
    dims = struct.unpack(f">{rank}I", raw[4 : 4 + 4 * rank])
    data = torch.frombuffer(bytearray(raw[4 + 4 * rank :]), dtype=torch.uint8)
    if data.numel() != math.prod(dims):
        raise Fail(f"{path} declares {math.prod(dims)} values but holds {data.numel()}")
    return data.reshape(dims)


def find_idx(folder, prefix, kind):
    for sep in ("-", "."):
        for ext in ("", ".gz"):
            path = os.path.join(folder, f"{prefix}{sep}{kind}-ubyte{ext}")
            if os.path.exists(path):
                return path
    return None


def read_cifar(folder, names):
    chunks = []
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            raw = f.read()
        if len(raw) % 3073:
            raise Fail(f"{name} is not a CIFAR-10 binary batch")
        chunks.append(torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, 3073))
    records = torch.cat(chunks)
    return records[:, 1:].reshape(-1, 3, 32, 32).clone(), records[:, 0].long()


def measured(images):
    """Per-channel mean and population std of uint8 NCHW images, on the [0, 1] scale."""
    x = images.double() / 255
    dims = [0, 2, 3]
    mean = x.mean(dims)
    std = x.std(dims, unbiased=False)
    return mean.tolist(), [s if s > 0 else 1.0 for s in std.tolist()]


class ImageFolder(Dataset):
    """A class-per-folder tree of JPEG/PNG images (ImageNet's layout). Training images are randomly
    resized, cropped and flipped; test images are resized (shorter side to 8/7 of the input) and
    centre-cropped. Returns uint8 CHW tensors of the model's input size."""

    def __init__(self, root, classes, size, channels, train):
        self.samples = [(os.path.join(root, c, f), k) for k, c in enumerate(classes)
                        for f in sorted(os.listdir(os.path.join(root, c))) if f.lower().endswith(IMAGE_SUFFIXES)]
        self.labels = torch.tensor([k for _, k in self.samples])
        self.size, self.mode, self.train = size, "L" if channels == 1 else "RGB", train

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        from PIL import Image

        path, label = self.samples[i]
        with Image.open(path) as img:
            img = img.convert(self.mode)
            h, w = self.size
            if self.train:
                img = random_resized_crop(img, h, w)
                if random.random() < 0.5:
                    img = img.transpose(Image.FLIP_LEFT_RIGHT)
            else:
                scale = max(h, w) * 8 / 7 / min(img.size)
                img = img.resize((max(w, round(img.size[0] * scale)), max(h, round(img.size[1] * scale))), Image.BILINEAR)
                left, top = (img.size[0] - w) // 2, (img.size[1] - h) // 2
                img = img.crop((left, top, left + w, top + h))
            data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
        return data.reshape(h, w, -1).permute(2, 0, 1).contiguous(), label


def random_resized_crop(img, h, w):
    """A crop of 8-100 % of the area with an aspect ratio in [3/4, 4/3], resized to h x w."""
    from PIL import Image

    width, height = img.size
    for _ in range(10):
        area = width * height * random.uniform(0.08, 1.0)
        ratio = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < cw <= width and 0 < ch <= height:
            left, top = random.randint(0, width - cw), random.randint(0, height - ch)
            return img.resize((w, h), Image.BILINEAR, box=(left, top, left + cw, top + ch))
    return img.resize((w, h), Image.BILINEAR)


class Data:
    """The training and test splits, their normalisation and augmentation."""

    def __init__(self, source, limit):
        named = source in DATA_DIRS
        folder = DATA_DIRS[source] if named else source
        if not os.path.isdir(folder):
            raise Fail(f"the {source} data set is not installed: {folder} does not exist" if named
                       else f"no data set at {folder}: it is not a folder")
        self.source, self.augment, self.workers_needed = source, False, False
        c, h, w = spec.INPUT_SHAPE
        idx = [find_idx(folder, p, k) for p, k in
               (("train-images", "idx3"), ("train-labels", "idx1"), ("t10k-images", "idx3"), ("t10k-labels", "idx1"))]
        cifar = next((d for d in (folder, os.path.join(folder, "cifar-10-batches-bin"))
                      if os.path.exists(os.path.join(d, "test_batch.bin"))), None)
        split_dirs = [os.path.join(folder, d) for d in ("train", "val", "test")]
        if all(idx):
            train = (read_idx(idx[0]).unsqueeze(1), read_idx(idx[1]).long())
            test = (read_idx(idx[2]).unsqueeze(1), read_idx(idx[3]).long())
            self.norm = NORMALISATION[source] if source in ("fashion-mnist", "mnist") else measured(train[0])
        elif cifar:
            train = read_cifar(cifar, [f"data_batch_{i}.bin" for i in range(1, 6)])
            test = read_cifar(cifar, ["test_batch.bin"])
            self.norm = NORMALISATION["cifar10"] if source == "cifar10" else measured(train[0])
            self.augment = True
        elif os.path.isdir(split_dirs[0]) and (os.path.isdir(split_dirs[1]) or os.path.isdir(split_dirs[2])):
            test_dir = split_dirs[1] if os.path.isdir(split_dirs[1]) else split_dirs[2]
            classes = sorted(d for d in os.listdir(split_dirs[0]) if os.path.isdir(os.path.join(split_dirs[0], d)))
            if len(classes) > spec.CLASSES:
                raise Fail(f"{folder} has {len(classes)} classes but the model predicts {spec.CLASSES}")
            self.train = ImageFolder(split_dirs[0], classes, (h, w), c, True)
            self.test = ImageFolder(test_dir, classes, (h, w), c, False)
            self.norm = IMAGENET if c == 3 else ([0.449], [0.226])
            self.workers_needed = True
            self.limit(limit)
            return
        else:
            raise Fail(f"no data set found in {folder}",)
        if list(train[0].shape[1:]) != list(spec.INPUT_SHAPE):
            raise Fail(f"the images of {source} are {'x'.join(map(str, train[0].shape[1:]))} but the model "
                       f"'{spec.SPEC}' takes {'x'.join(map(str, spec.INPUT_SHAPE))} input")
        classes = int(max(train[1].max(), test[1].max())) + 1
        if classes > spec.CLASSES:
            raise Fail(f"the data set {source} has {classes} classes but the model predicts {spec.CLASSES}")
        self.train, self.test = ImageTensors(*train), ImageTensors(*test)
        self.limit(limit)

    def limit(self, limit):
        """SoFAr's --limit: the first N training samples and ceil(N * test / train) test samples."""
        n_train, n_test = len(self.train), len(self.test)
        self.full = (n_train, n_test)
        if limit is None or limit >= n_train:
            return
        keep_test = min(n_test, max(1, math.ceil(limit * n_test / n_train)))
        self.train = torch.utils.data.Subset(self.train, range(limit))
        self.test = torch.utils.data.Subset(self.test, range(keep_test))

    def normalise(self, x, device):
        mean, std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in self.norm)
        return (x.to(device, non_blocking=True).float() / 255 - mean) / std


class SofarOrderSampler(DistributedSampler):
    """DistributedSampler over SoFAr's sample order of each epoch (seeded by seed and epoch, as
    SoFAr's loop draws it). Process r takes positions r, r + P, r + 2P, ... so that the k-th batches of
    the P processes together are the k-th batch of a one-process run with P times the batch.
    `skip` (a run resumed mid-epoch) leaves out this process's first samples of the epoch."""

    skip = 0

    def __iter__(self):
        order = spec.epoch_order(len(self.dataset), self.seed, self.epoch)
        order += order[: self.total_size - len(order)]
        return iter(order[self.rank : self.total_size : self.num_replicas][self.skip :])

    def __len__(self):
        return self.num_samples - self.skip


def crop_flip(x, seed, step, rank, world, pad, fill):
    """SoFAr's CIFAR augmentation (src/data/augment.ts) on normalised images: per sample of the
    global batch, a random crop of the image padded by `pad` and a horizontal flip with probability
    1/2, drawn from the stream (seed, step); this process's samples are global positions rank + world i."""
    n, _, h, w = x.shape
    rng = spec.SofarRandom(seed, f"augment/{step}")
    draws = [(rng.int(2 * pad + 1) - pad, rng.int(2 * pad + 1) - pad, rng.uniform() < 0.5) for _ in range(n * world)]
    padded = torch.cat([F.pad(x[:, c : c + 1], (pad, pad, pad, pad), value=fill[c]) for c in range(x.shape[1])], 1)
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx, flip = draws[rank + world * i]
        crop = padded[i, :, pad + dy : pad + dy + h, pad + dx : pad + dx + w]
        out[i] = crop.flip(-1) if flip else crop
    return out


# ---- the run ----------------------------------------------------------------------------------------

def learning_rate(schedule, base, step, total):
    """SoFAr's schedules (src/train/schedule.ts) over the optimizer step."""
    progress = min(max(step / total, 0.0), 1.0) if total > 0 else 0.0
    if schedule == "linear":
        return base * (1 - progress)
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return base * (0.01 if progress >= 0.75 else 0.1 if progress >= 0.5 else 1)
    return base


def kernels(model, binary):
    """The kernels of the binary (kernel-quantised) layers, or of the float conv and dense layers."""
    return [m.kernel for m in model.modules()
            if isinstance(m, (spec.QuantConv2d, spec.QuantDense)) and m.trainable and (m.kernel_quantizer is not None) == binary]


def make_optimizer(model, args):
    """SoFAr's optimisers (docs/semantics.md): L2 weight decay on float conv and dense kernels only."""
    decayed = kernels(model, binary=False)
    ids = {id(p) for p in decayed}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": decayed, "weight_decay": args.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if args.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum)
    if args.optimizer == "bop":
        return Bop(groups, kernels(model, binary=True), lr=args.lr, threshold=args.bop_threshold, gamma=args.bop_gamma)
    return torch.optim.Adam(groups, lr=args.lr, betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"])


class Bop(torch.optim.Optimizer):
    """Bop (Helwegen et al. 2019, "Latent weights do not exist"), as Larq has it and SoFAr's engines
    compute it (docs/semantics.md): for each entry w of a binary kernel, m <- (1 - gamma) m + gamma g and
    w <- -sign(w) where sign(w) m > threshold, else sign(w) (sign(0) = +1); every other parameter takes
    Adam with the learning rate (its weight decay as for adam), its step counted with Bop's. The state
    is Adam's (exp_avg, exp_avg_sq, step), so checkpoints hold '<param>/m' (Bop's average on binary
    kernels) and '<param>/v' (0 on binary kernels) as SoFAr's engines write them. Under
    DistributedDataParallel the gradients are all-reduced before the step: every process flips alike."""

    def __init__(self, groups, binary, lr, threshold, gamma):
        super().__init__(groups, {"lr": lr, "weight_decay": 0.0})
        self.binary = {id(p) for p in binary}
        self.threshold, self.gamma = threshold, gamma

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        b1, b2, eps, gamma = ADAM["beta1"], ADAM["beta2"], ADAM["eps"], self.gamma
        for group in self.param_groups:
            for p in group["params"]:
                # A parameter without a gradient is updated as with a zero one, as SoFAr's engines do.
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                if group["weight_decay"]:
                    g = g + p * group["weight_decay"]
                state = self.state[p]
                if not state:
                    state.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if id(p) in self.binary:
                    m.copy_(m * (1 - gamma) + g * gamma)
                    sign = (p >= 0).to(p.dtype) * 2 - 1
                    p.copy_(torch.where(sign * m > self.threshold, -sign, sign))
                    v.zero_()
                    continue
                t = state["step"].item()
                m.copy_(m * b1 + g * (1 - b1))
                v.copy_(v * b2 + g * g * (1 - b2))
                m_hat, v_hat = m * (1 / (1 - b1**t)), v * (1 / (1 - b2**t))
                p.sub_(m_hat / (v_hat.sqrt() + eps) * group["lr"])
        return loss


class FlipCounter:
    """The share of binary-kernel entries whose sign (sign(0) = +1) an update changed, as SoFAr's
    engines report it (metrics.jsonl's flipRatio: the mean over an epoch's steps); any optimiser."""

    def __init__(self, model):
        self.kernels = kernels(model, binary=True)
        self.count = sum(k.numel() for k in self.kernels)

    def before(self):
        self.signs = [k.detach() >= 0 for k in self.kernels]

    def ratio(self):
        """The flip ratio of the update since before(), a tensor on the kernels' device."""
        changed = sum((k.detach() >= 0).ne(s).sum() for k, s in zip(self.kernels, self.signs))
        return changed.double() / self.count


def clip_kernels(model):
    """After each update, binary kernels with a clip are clipped to [-clip, clip] (Larq's weight_clip);
    fixed kernels are never touched."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (spec.QuantConv2d, spec.QuantDense)) and m.trainable and m.kernel_clip is not None:
                m.kernel.clamp_(-m.kernel_clip, m.kernel_clip)


def train_step(net, model, optimizer, scaler, flips, x, y, amp=False, teacher=None, distill_weight=0.0):
    """One optimizer step on a batch (the learning rate already set): forward, loss, backward (under
    DistributedDataParallel the gradients are all-reduced here), the update, clipping. With `teacher`
    (its logits on the batch) the loss is SoFAr's distillation loss (docs/semantics.md): cross-entropy +
    distill_weight * KL(softmax(teacher) || softmax(student)). Returns the logits, the loss, the step's
    flip ratio (a tensor; None for a model without binary kernels) and the KL term (None without a teacher)."""
    with torch.autocast("cuda", enabled=amp) if amp else torch.autocast("cpu", enabled=False):
        logits = net(x)
    loss = F.cross_entropy(logits.float(), y)
    kl = None
    if teacher is not None:
        kl = distillation(logits.float(), teacher)
        loss = loss + distill_weight * kl
    optimizer.zero_grad(set_to_none=False)
    scaler.scale(loss).backward()
    if flips.count:
        flips.before()
    scaler.step(optimizer)
    scaler.update()
    clip_kernels(model)
    return logits, loss, flips.ratio() if flips.count else None, kl


def distillation(logits, teacher_logits):
    """The batch mean of KL(softmax(teacher) || softmax(student)) = sum_k p_k (log p_k - log q_k)."""
    return F.kl_div(F.log_softmax(logits, 1), F.log_softmax(teacher_logits.float(), 1), reduction="batchmean", log_target=True)


class Teacher:
    """A distillation teacher in inference mode: a PyTorch project of SoFAr (a folder with model.py, its
    weights init.safetensors or a run's checkpoint) or an ONNX model (run by onnxruntime). It must take
    this model's input and give its number of classes."""

    def __init__(self, source, weights, device):
        self.device = device
        if source.lower().endswith(".onnx"):
            if weights:
                raise Fail(f"--teacher-weights goes with a teacher project; the ONNX model {source} holds its own weights")
            try:
                import onnxruntime
            except ImportError:
                raise Fail(f"the ONNX teacher {source} needs the onnxruntime package (pip install onnxruntime); or give "
                           "the teacher as a PyTorch project: sofar build TEACHER.sofar --target torch --weights RUN -o DIR, "
                           "then --teacher DIR") from None
            if not os.path.exists(source):
                raise Fail(f"no teacher model at {source}")
            self.session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
            self.module = None
        else:
            if not os.path.exists(os.path.join(source, "model.py")):
                raise Fail(f"--teacher {source}: give a PyTorch project folder (with model.py, from sofar build TEACHER.sofar "
                           "--target torch) or a model.onnx")
            import importlib.util

            loader = importlib.util.spec_from_file_location("sofar_teacher_model", os.path.join(source, "model.py"))
            code = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(code)
            self.module = code.create_model()
            weights = weights or os.path.join(source, "init.safetensors")
            if not os.path.exists(code.checkpoint_file(weights)):
                raise Fail(f"no teacher weights at {weights}")
            try:
                code.load_checkpoint(self.module, weights)
            except ValueError as e:
                raise Fail(f"the teacher's weights: {e}") from None
            self.module.to(device).eval()
        probe = self(torch.zeros(1, *spec.INPUT_SHAPE, device=device))
        if probe.shape[-1] != spec.CLASSES:
            raise Fail(f"the teacher {source} gives {probe.shape[-1]} logits, the student '{spec.SPEC}' {spec.CLASSES} classes")

    @torch.no_grad()
    def __call__(self, x):
        if self.module is not None:
            return self.module(x).float()
        name = self.session.get_inputs()[0].name
        return torch.from_numpy(self.session.run(None, {name: x.detach().float().cpu().numpy()})[0]).to(self.device)


def initialise(model, args, say):
    """The weights a new run starts from: init.safetensors beside this file (SoFAr's seeded init, or
    the weights given to sofar build), then, with --init RUN, every tensor of that run whose name and
    shape match (moving statistics and fixed kernels included; no optimizer state), as SoFAr's engines
    take it. Says what it took and what it left; refuses a run with nothing in common."""
    if args.init == "none":
        return
    default = os.path.join(HERE, "init.safetensors")
    if os.path.exists(default):
        spec.load_checkpoint(model, default)
    if args.init is None:
        return
    path = spec.checkpoint_file(args.init)
    if not os.path.exists(path):
        raise Fail(f"--init {args.init}: no checkpoint at {path}")
    tensors, meta = spec.read_safetensors(path)
    state = model.state_dict()
    taken, absent, reshaped = [], [], []
    with torch.no_grad():
        for key, value in state.items():
            name, t = spec.graph_name(key), tensors.get(spec.graph_name(key))
            if t is not None and list(t.shape) == list(value.shape):
                value.copy_(t)
                taken.append(name)
            elif t is None:
                absent.append(name)
            else:
                reshaped.append(f"{name} (run {'x'.join(map(str, t.shape))}, here {'x'.join(map(str, value.shape))})")
    names = {spec.graph_name(k) for k in state}
    slot = lambda n: "/" in n and n.rsplit("/", 1)[1] in ("m", "v", "momentum") and n.rsplit("/", 1)[0] in tensors
    unused = [n for n in tensors if n not in names and not slot(n)]
    if not taken:
        raise Fail(f"--init {path}: the run (model '{meta.get('spec', '?')}') shares no parameter of the same name and shape "
                   f"with model '{spec.SPEC}'" + (f"; {len(reshaped)} share a name but not a shape (check the --set values "
                                                   "of the two runs)" if reshaped else ""))

    def listed(items):
        return ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")

    say(f"initialised from {path}: {len(taken)} of {len(state)} parameter tensors taken ({listed(taken)})")
    if absent:
        say(f"left at their initial values, not in the run: {listed(absent)}")
    if reshaped:
        say(f"left at their initial values, of another shape in the run: {listed(reshaped)}")
    if unused:
        say(f"in the run but not in this model (unused): {listed(unused)}")


def rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20)
    except OSError:
        return 0


def duration(seconds):
    seconds = round(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


FIXED_ON_RESUME = ("batchSize", "seed", "data", "limit", "trainSamples")
# A mid-epoch checkpoint's sums of the epoch so far (its metadata partial_epoch, as SoFAr's engines write it).
PARTIAL_EPOCH_KEYS = ("loss_sum", "correct", "samples", "distillation_sum", "flip_sum", "flip_steps")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // local_world))
    distributed = world > 1
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
    lead = rank == 0

    def say(text, end="\n"):
        if lead:
            print(text, end=end, file=sys.stderr if args.json else sys.stdout, flush=True)

    try:
        run(args, world, rank, device, cuda, distributed, say)
        return 0
    except Fail as e:
        if lead:
            print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if lead:
            print(f"\ntraining interrupted; {saved_position(args)}", file=sys.stderr)
        return 130
    finally:
        if distributed:
            dist.destroy_process_group()


def saved_position(args):
    """What an interrupted run kept, and how to carry on."""
    ckpt = os.path.join(args.out or os.path.join("runs", spec.SPEC), "checkpoint.safetensors")
    if not os.path.exists(ckpt):
        return "nothing was saved" + ("" if args.checkpoint_every else " (--checkpoint-every N saves within epochs)")
    _, meta = spec.read_safetensors(ckpt)
    epoch, step = int(meta.get("epoch", 0)), int(meta.get("step", 0))
    where = (f"the checkpoint of step {step} (within epoch {epoch + 1})" if "partial_epoch" in meta
             else f"the last complete epoch ({epoch})")
    return f"{where} is saved in {ckpt}; --resume continues it"


def run(args, world, rank, device, cuda, distributed, say):
    out = args.out or os.path.join("runs", spec.SPEC)
    ckpt = os.path.join(out, "checkpoint.safetensors")
    saved = {}
    if args.resume:
        if not os.path.exists(ckpt):
            raise Fail(f"no checkpoint at {ckpt} to resume")
        _, meta = spec.read_safetensors(ckpt)
        saved = json.loads(meta.get("config", "{}"))
    elif os.path.exists(ckpt):
        raise Fail(f"{out} already holds a checkpoint; pass --resume to continue that run, or choose another --out")

    # Options a resumed run takes from its checkpoint unless given (as sofar train does).
    given = args.given
    def pick(flag, key, value):
        return saved[key] if key in saved and flag not in given and saved[key] is not None else value
    args.data = pick("data", "data", args.data)
    args.epochs = pick("epochs", "epochs", args.epochs)
    args.lr = pick("lr", "lr", args.lr)
    args.schedule = pick("schedule", "schedule", args.schedule)
    args.seed = pick("seed", "seed", args.seed)
    args.limit = pick("limit", "limit", args.limit)
    opt_saved = saved.get("optimizer") or {}
    args.checkpoint_every = pick("checkpoint_every", "checkpointEvery", args.checkpoint_every)
    args.teacher = pick("teacher", "teacher", args.teacher)
    args.teacher_weights = pick("teacher_weights", "teacherWeights", args.teacher_weights)
    args.distill_weight = pick("distill_weight", "distillWeight", args.distill_weight)
    if args.teacher is None and (args.distill_weight is not None or args.teacher_weights is not None):
        raise Fail("--distill-weight and --teacher-weights go with --teacher")
    if args.teacher is not None and args.distill_weight is None:
        args.distill_weight = 1.0
    if "optimizer" not in given and opt_saved.get("name"):
        args.optimizer = opt_saved["name"]
    if "momentum" not in given and opt_saved.get("momentum") is not None:
        args.momentum = opt_saved["momentum"]
    if "weight_decay" not in given and opt_saved.get("weightDecay") is not None:
        args.weight_decay = opt_saved["weightDecay"]
    for flag, key in (("bop_threshold", "bopThreshold"), ("bop_gamma", "bopGamma")):
        if flag not in given and opt_saved.get(key) is not None and args.optimizer == "bop":
            setattr(args, flag, opt_saved[key])
    # Bop's settings go with Bop (its defaults filled in); with another optimiser they are refused, as sofar train does.
    if args.optimizer == "bop":
        args.bop_threshold = BOP_DEFAULTS["threshold"] if args.bop_threshold is None else args.bop_threshold
        args.bop_gamma = BOP_DEFAULTS["gamma"] if args.bop_gamma is None else args.bop_gamma
    elif args.bop_threshold is not None or args.bop_gamma is not None:
        raise Fail("--bop-threshold and --bop-gamma go with --optimizer bop")
    if args.batch is None:
        total = saved.get("batchSize", 128)
        if total % world:
            raise Fail(f"the global batch {total} does not split over {world} processes; pass --batch (per process)")
        args.batch = total // world
    global_batch = args.batch * world

    data = Data(args.data, args.limit)
    n_train, n_test = len(data.train), len(data.test)
    optimizer_config = {"name": args.optimizer, "momentum": args.momentum, "weightDecay": args.weight_decay}
    if args.optimizer == "bop":
        optimizer_config.update(bopThreshold=args.bop_threshold, bopGamma=args.bop_gamma)
    config = {"epochs": args.epochs, "batchSize": global_batch, "lr": args.lr, "schedule": args.schedule,
              "optimizer": optimizer_config,
              "seed": args.seed, "data": args.data, "limit": args.limit, "trainSamples": n_train,
              "processes": world, "batchPerProcess": args.batch}
    for key, value in (("checkpointEvery", args.checkpoint_every), ("distillWeight", args.distill_weight), ("teacher", args.teacher),
                       ("teacherWeights", args.teacher_weights), ("init", args.init)):
        if value is not None:
            config[key] = value
    if args.resume and "init" in saved:
        config["init"] = saved["init"]
    # What SoFAr's engines record beside the configuration: how inputs were normalised, and the model
    # parameters (--set values) model.py was built with.
    normalisation = {"dataset": args.data, "mean": [float(v) for v in data.norm[0]], "std": [float(v) for v in data.norm[1]]}
    for key in FIXED_ON_RESUME + ("optimizer",):
        if key in saved:
            was = saved[key]["name"] if key == "optimizer" else saved[key]
            now = config[key]["name"] if key == "optimizer" else config[key]
            if json.dumps(was) != json.dumps(now):
                raise Fail(f"cannot resume {ckpt}: it was trained with {key} = {json.dumps(was)}, this run asks for "
                           f"{json.dumps(now)} (a resumed run keeps the data, --limit, the global batch, --seed and --optimizer)")

    torch.manual_seed(args.seed)
    model = spec.create_model()
    if not args.resume:
        initialise(model, args, say)
    model.to(device)
    optimizer = make_optimizer(model, args)
    flips = FlipCounter(model)
    teacher = Teacher(args.teacher, args.teacher_weights, device) if args.teacher is not None else None
    completed, step, partial = 0, 0, None
    if args.resume:
        meta = spec.load_checkpoint(model, ckpt, optimizer)
        completed, step = meta["epoch"], meta["step"]
        partial = json.loads(meta["partial_epoch"]) if "partial_epoch" in meta else None
        within = f" (within epoch {completed + 1})" if partial else ""
        say(f"resuming {ckpt}: epoch {completed}, step {step}{within} (written by {meta.get('engine', '?')})")
    if distributed and args.sync_bn:
        group = dist.new_group(backend="nccl" if cuda else "gloo")  # its own group: never interleaves with DDP's
        for m in model.modules():
            if isinstance(m, spec.BatchNorm):
                m.group = group
    net = DistributedDataParallel(model, device_ids=[device.index] if cuda else None,
                                  broadcast_buffers=not args.sync_bn) if distributed else model

    sampler = SofarOrderSampler(data.train, num_replicas=world, rank=rank, shuffle=False, seed=args.seed)
    loader = DataLoader(data.train, batch_size=args.batch, sampler=sampler, pin_memory=cuda,
                        num_workers=args.workers if data.workers_needed else 0, persistent_workers=data.workers_needed and args.workers > 0)
    steps = len(loader)
    # At an epoch's end, or (a mid-epoch checkpoint) within the epoch after it.
    first = completed * steps
    if args.resume and not first <= step < first + steps:
        raise Fail(f"the checkpoint is at step {step} after {completed} epoch(s), but {steps} steps an epoch would put it "
                   f"between {first} and {first + steps - 1}; resume with the data, --limit and global batch of the original run")
    total_steps = args.epochs * steps
    amp = args.amp and cuda
    scaler = torch.cuda.amp.GradScaler(enabled=amp)
    fill = [-m / s for m, s in zip(*data.norm)]
    mode = "CUDA" if cuda else f"CPU ({torch.get_num_threads()} threads each)"
    say(f"training {spec.SPEC} on torch {torch.__version__} {mode}, {world} process(es) ({'nccl' if cuda else 'gloo'}"
        f"{', mixed precision' if amp else ''}): {n_train} training and {n_test} test samples, batch {global_batch} "
        f"({args.batch} per process), {steps} steps an epoch, epochs {completed + 1}-{args.epochs}")

    history = read_metrics(out, completed)
    if rank == 0:
        os.makedirs(out, exist_ok=True)

    def save(epoch, partial_sums=None):
        if rank == 0:
            spec.save_checkpoint(model, out, optimizer, epoch=epoch, step=step, seed=args.seed, config=config,
                                 normalisation=normalisation, partial_epoch=partial_sums)

    ran_samples, ran_seconds = 0, 0.0
    for epoch in range(completed + 1, args.epochs + 1):
        began = time.perf_counter()
        # The first epoch of a run resumed mid-epoch starts where its checkpoint stopped, with its sums.
        start = step - (epoch - 1) * steps
        sampler.set_epoch(epoch)
        sampler.skip = start * args.batch
        net.train()
        # loss * n, correct, n, KL * n, flip ratios, steps with one: this process's (the run's so far on rank 0).
        sums = torch.zeros(6, dtype=torch.float64)
        if partial and rank == 0:
            sums += torch.tensor([partial.get(k, 0) for k in PARTIAL_EPOCH_KEYS], dtype=torch.float64)
        partial = None
        ran = 0
        lr = args.lr
        for b, (x, y) in enumerate(loader, start):
            x, y = data.normalise(x, device), y.to(device, non_blocking=True)
            if data.augment:
                x = crop_flip(x, args.seed, step, rank, world, 4, fill)
            spec.set_noise(model, spec.drop_path_masks(args.seed, step))
            # Dropout draws from torch's generator, seeded by (seed, step, process): a resumed run draws alike.
            torch.manual_seed(spec.SofarRandom(args.seed, f"torch/{step}/{rank}").next_uint32())
            lr = learning_rate(args.schedule, args.lr, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # The teacher sees the images the student sees, augmentation included.
            targets = teacher(x) if teacher is not None else None
            logits, loss, flip_ratio, kl = train_step(net, model, optimizer, scaler, flips, x, y, amp, targets, args.distill_weight or 0.0)
            step += 1
            if not math.isfinite(loss.item()):
                raise Fail(f"the training loss became {loss.item()} at epoch {epoch}, step {b + 1}; lower the learning rate "
                           f"(--lr {args.lr}); the last checkpoint is kept")
            n = len(y)
            sums += torch.tensor([loss.item() * n, (logits.argmax(1) == y).sum().item(), n, kl.item() * n if kl is not None else 0.0,
                                  flip_ratio.item() if flip_ratio is not None else 0.0, 1.0 if flip_ratio is not None else 0.0],
                                 dtype=torch.float64)
            ran += n
            if sys.stdout.isatty() and not args.json:
                say(f"\repoch {epoch}/{args.epochs}  step {b + 1}/{steps}  loss {sums[0] / sums[2]:.4f}  "
                    f"{ran * world / (time.perf_counter() - began):.1f} samples/s ", end="")
            # Mid-epoch checkpoints count optimizer steps of the whole run; the epoch's last step has its own.
            if args.checkpoint_every and step % args.checkpoint_every == 0 and b + 1 < steps:
                run_sums = sums.clone()
                if distributed:
                    dist.all_reduce(run_sums)
                save(epoch - 1, dict(zip(PARTIAL_EPOCH_KEYS, run_sums.tolist())))
        train_seconds = time.perf_counter() - began
        if distributed:
            dist.all_reduce(sums)
        test_loss, test_acc = evaluate(model, data, args.batch, device, rank, world, distributed)
        seconds = time.perf_counter() - began
        metrics = {"epoch": epoch, "step": step, "lr": lr, "trainLoss": (sums[0] / sums[2]).item(),
                   "trainAccuracy": (sums[1] / sums[2]).item()}
        if teacher is not None:
            metrics["trainDistillation"] = (sums[3] / sums[2]).item()
        metrics.update({"testLoss": test_loss, "testAccuracy": test_acc, "samplesPerSecond": ran * world / train_seconds,
                        "seconds": seconds, "rssMB": rss_mb()})
        if flips.count:
            metrics["flipRatio"] = (sums[4] / sums[5]).item()
        history.append(metrics)
        ran_samples += ran * world
        ran_seconds += train_seconds
        if rank == 0:
            # Metrics first: if killed in between, the resumed run drops the line its checkpoint lacks.
            write_metrics(out, history)
        save(epoch)
        if sys.stdout.isatty() and not args.json:
            say("\r\033[K", end="")
        flip_text = f"  flips {100 * metrics['flipRatio']:.2g}%" if flips.count else ""
        kl_text = f"  KL {metrics['trainDistillation']:.4f}" if teacher is not None else ""
        say(f"epoch {epoch}/{args.epochs}  loss {metrics['trainLoss']:.4f}  acc {100 * metrics['trainAccuracy']:.2f}%{kl_text}  "
            f"test loss {test_loss:.4f}  test acc {100 * test_acc:.2f}%{flip_text}  {metrics['samplesPerSecond']:.1f} samples/s  {duration(seconds)}")
        if distributed:
            dist.barrier()
    say(f"checkpoint {ckpt}")
    if args.json and rank == 0 and history:
        last = history[-1]
        print(json.dumps({"epochs": max(completed, args.epochs),
                          "samplesPerSecond": ran_samples / ran_seconds if ran_seconds else last["samplesPerSecond"],
                          "trainLoss": last["trainLoss"], "testAccuracy": last["testAccuracy"]}), flush=True)


@torch.no_grad()
def evaluate(model, data, batch, device, rank, world, distributed):
    """Mean cross-entropy and accuracy over the test split, shared out over the processes."""
    model.eval()
    part = torch.utils.data.Subset(data.test, range(rank, len(data.test), world))
    sums = torch.zeros(3, dtype=torch.float64)
    for x, y in DataLoader(part, batch_size=batch):
        logits = model(data.normalise(x, device)).float()
        y = y.to(device)
        sums += torch.tensor([F.cross_entropy(logits, y, reduction="sum").item(), (logits.argmax(1) == y).sum().item(), len(y)],
                             dtype=torch.float64)
    if distributed:
        dist.all_reduce(sums)
    return (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()


def read_metrics(out, up_to):
    try:
        with open(os.path.join(out, "metrics.jsonl")) as f:
            return [m for m in (json.loads(line) for line in f if line.strip()) if m["epoch"] <= up_to]
    except FileNotFoundError:
        return []


def write_metrics(out, history):
    path = os.path.join(out, "metrics.jsonl")
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.writelines(json.dumps(m) + "\n" for m in history)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
