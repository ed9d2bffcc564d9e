# ---------------------------------------------------------------------------------------------------
# SoFAr's PyTorch runtime: the layers, quantizers and checkpoint format the model above is built from.
# The same text in every generated model.py; docs/semantics.md of SoFAr is the definition it follows.
# ---------------------------------------------------------------------------------------------------


# Quantizers (Larq's), as autograd functions with SoFAr's straight-through gradients. sign(0) = +1.

def _sign(x):
    return (x >= 0).to(x.dtype) * 2 - 1


class _SteSign(torch.autograd.Function):
    """sign(x); gradient dy * 1{|x| <= clip}."""

    @staticmethod
    def forward(ctx, x, clip):
        ctx.save_for_backward(x)
        ctx.clip = clip
        return _sign(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * (x.abs() <= ctx.clip).to(dy.dtype), None


class _ApproxSign(torch.autograd.Function):
    """sign(x); Bi-Real Net's gradient dy * max(0, 2 - 2|x|)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _sign(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * (2 - 2 * x.abs()).clamp(min=0)


class _SwishSign(torch.autograd.Function):
    """sign(x); the SignSwish gradient dy * beta (2 - beta x tanh(beta x / 2)) / (1 + cosh(beta x))."""

    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x)
        ctx.beta = beta
        return _sign(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        b = ctx.beta
        bx = b * x
        return dy * (b * (2 - bx * torch.tanh(bx / 2)) / (1 + torch.cosh(bx))), None


class _SteHeaviside(_SteSign):
    """1 if x > 0 else 0; the straight-through gradient of ste_sign, dy * 1{|x| <= clip}."""

    @staticmethod
    def forward(ctx, x, clip):
        _SteSign.forward(ctx, x, clip)
        return (x > 0).to(x.dtype)


class _Dorefa(torch.autograd.Function):
    """round(clip(x, 0, 1) n) / n with n = 2^k - 1, halves to even (torch.round); gradient dy * 1{0 <= x <= 1}."""

    @staticmethod
    def forward(ctx, x, k_bit):
        ctx.save_for_backward(x)
        n = 2 ** int(k_bit) - 1
        return torch.round(x.clamp(0, 1) * n) / n

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * ((x >= 0) & (x <= 1)).to(dy.dtype), None


class _ScaledSignIdentity(torch.autograd.Function):
    """s sign(W) with s = mean |W| over the whole kernel (a constant); gradient dy, unclipped and unscaled."""

    @staticmethod
    def forward(ctx, w):
        # The scale is summed in float64 and rounded once, as the exporter computes it.
        return _sign(w) * w.double().abs().mean().to(w.dtype)

    @staticmethod
    def backward(ctx, dy):
        return dy


def ste_sign(x, clip=1.0):
    return _SteSign.apply(x, clip)


def ste_heaviside(x, clip=1.0):
    return _SteHeaviside.apply(x, clip)


def dorefa(x, k_bit=2):
    return _Dorefa.apply(x, k_bit)


def approx_sign(x):
    return _ApproxSign.apply(x)


def swish_sign(x, beta=5.0):
    return _SwishSign.apply(x, beta)


class SteSign:
    """Kernel quantizer: sign(W), straight-through where |W| <= clip."""

    def __init__(self, clip=1.0):
        self.clip = clip

    def __call__(self, kernel):
        return ste_sign(kernel, self.clip)

    def split(self, kernel, out_axis):
        """The +-1 kernel and the per-output-channel scale (None: 1)."""
        return ste_sign(kernel, self.clip), None

    def __repr__(self):
        return f"SteSign(clip={self.clip})"


class MagnitudeAwareSign(SteSign):
    """Kernel quantizer: s_o * sign(W), s_o = mean |W| over all but the output-channel axis (a constant)."""

    def __call__(self, kernel, out_axis=0):
        signs, scale = self.split(kernel, out_axis)
        shape = [1] * kernel.dim()
        shape[out_axis] = -1
        return signs * scale.view(shape)

    def split(self, kernel, out_axis):
        dims = [d for d in range(kernel.dim()) if d != out_axis]
        return ste_sign(kernel, self.clip), kernel.detach().abs().mean(dims)

    def __repr__(self):
        return f"MagnitudeAwareSign(clip={self.clip})"


class MagnitudeAwareSignUnclipped(SteSign):
    """Kernel quantizer of DoReFa-Net: s sign(W) with one scale s = mean |W| a layer (a constant);
    gradient dy (no clip, no scale). Returned as one scaled kernel: its gradient is the kernel's."""

    def __init__(self):
        super().__init__(clip=None)

    def __call__(self, kernel, out_axis=0):
        return _ScaledSignIdentity.apply(kernel)

    def split(self, kernel, out_axis):
        return _ScaledSignIdentity.apply(kernel), None

    def __repr__(self):
        return "MagnitudeAwareSignUnclipped()"


class XnorWeightScale(MagnitudeAwareSign):
    """Kernel quantizer of XNOR-Net: alpha_o sign(W), alpha_o = mean |clip(W, -1, 1)| over all but the
    output-channel axis. The scale is not held constant: its gradient flows to W (as in Larq Zoo)."""

    def __init__(self):
        super().__init__(clip=1.0)

    def split(self, kernel, out_axis):
        dims = [d for d in range(kernel.dim()) if d != out_axis]
        return ste_sign(kernel, 1.0), kernel.clamp(-1, 1).abs().mean(dims)

    def __repr__(self):
        return "XnorWeightScale()"


# Layers. Parameters keep SoFAr's roles as names (kernel, bias, gamma, beta, moving_mean, ...) and
# layouts (conv kernel [out, in/groups, kh, kw], dense kernel [in, out]).

def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _pads(p):
    """Padding as (top, left, bottom, right) from an int, a (h, w) pair or a 4-tuple."""
    if isinstance(p, int):
        return (p, p, p, p)
    if len(p) == 2:
        return (p[0], p[1], p[0], p[1])
    return tuple(p)


def _pad(x, pads, value=0.0):
    top, left, bottom, right = pads
    return F.pad(x, (left, right, top, bottom), value=value) if any(pads) else x


def _init_kernel(kernel, fan_in, fan_out):
    # Keras' glorot_normal: a normal truncated at 2 sigma, scaled to keep the standard deviation.
    std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
    nn.init.trunc_normal_(kernel, 0.0, std, -2 * std, 2 * std)


class QuantConv2d(nn.Module):
    """A convolution; its kernel quantized when it has a kernel quantizer. The input is padded with
    `pad_value` (0, or Larq's one-padding: 1). A `fixed_kernel` (its values row-major, repeated to fill
    the kernel) is a buffer: saved and loaded under the kernel's name, never trained."""

    def __init__(self, in_channels, filters, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, kernel_quantizer=None, kernel_clip=None, pad_value=0, fixed_kernel=None):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.stride, self.dilation, self.groups = _pair(stride), _pair(dilation), groups
        self.pads, self.pad_value = _pads(padding), pad_value
        self.kernel_quantizer, self.kernel_clip = kernel_quantizer, kernel_clip
        shape = (filters, in_channels // groups, kh, kw)
        if fixed_kernel is not None:
            values = torch.tensor(fixed_kernel, dtype=torch.float32)
            self.register_buffer("kernel", values.repeat(math.prod(shape) // values.numel()).reshape(shape))
        else:
            self.kernel = nn.Parameter(torch.empty(shape))
            _init_kernel(self.kernel, in_channels // groups * kh * kw, filters * kh * kw)
        self.bias = nn.Parameter(torch.zeros(filters)) if bias else None

    @property
    def trainable(self):
        return isinstance(self.kernel, nn.Parameter)

    def forward(self, x):
        top, left, bottom, right = self.pads
        if top == bottom and left == right and self.pad_value == 0:
            padding = (top, left)
        else:
            x, padding = _pad(x, self.pads, float(self.pad_value)), 0
        if self.kernel_quantizer is None:
            return F.conv2d(x, self.kernel, self.bias, self.stride, padding, self.dilation, self.groups)
        # +-1 against +-1 sums exactly; the magnitude-aware scale multiplies the result.
        signs, scale = self.kernel_quantizer.split(self.kernel, 0)
        y = F.conv2d(x, signs, None, self.stride, padding, self.dilation, self.groups)
        if scale is not None:
            y = y * scale.view(1, -1, 1, 1)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class QuantDense(nn.Module):
    """y = x K + b with K [in, out]; binary when it has a kernel quantizer."""

    trainable = True

    def __init__(self, in_features, units, bias=True, kernel_quantizer=None, kernel_clip=None):
        super().__init__()
        self.kernel_quantizer, self.kernel_clip = kernel_quantizer, kernel_clip
        self.kernel = nn.Parameter(torch.empty(in_features, units))
        self.bias = nn.Parameter(torch.zeros(units)) if bias else None
        _init_kernel(self.kernel, in_features, units)

    def forward(self, x):
        if self.kernel_quantizer is None:
            y = x.matmul(self.kernel)
        else:
            signs, scale = self.kernel_quantizer.split(self.kernel, 1)
            y = x.matmul(signs)
            if scale is not None:
                y = y * scale
        return y if self.bias is None else y + self.bias


class BatchNorm(nn.Module):
    """Batch norm with SoFAr's (Keras') rule: in training, normalise with the batch mean and biased
    variance, then moving = momentum * moving + (1 - momentum) * batch (biased variance too).
    Without `scale` there is no gamma (1), without `center` no beta (0), as Keras' scale/center=False.
    With `group` set (train.py does under DistributedDataParallel), the batch is the global batch of
    every process: sums are all-reduced, so results do not depend on the number of processes."""

    def __init__(self, channels, momentum=0.9, eps=1e-5, scale=True, center=True):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if center else None
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))
        self.group = None

    def forward(self, x):
        if not self.training:
            return F.batch_norm(x, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0, self.eps)
        dtype = x.dtype
        x = x.float() if dtype in (torch.float16, torch.bfloat16) else x  # statistics of half inputs in float32
        dims = [0, 2, 3] if x.dim() == 4 else [0]
        if self.group is None:
            # One process: torch's fused kernel normalises exactly so (batch mean, biased variance).
            with torch.no_grad():
                var, mean = torch.var_mean(x, dims, unbiased=False)
                self._follow(mean, var)
            return F.batch_norm(x, None, None, self.gamma, self.beta, True, 0.0, self.eps).to(dtype)
        shape = [1, -1, 1, 1] if x.dim() == 4 else [1, -1]
        sums = _all_reduce(torch.cat([x.sum(dims), x.new_tensor([x.numel() // x.shape[1]])]), self.group)
        count = sums[-1].detach()
        mean = sums[:-1] / count
        var = _all_reduce((x - mean.view(shape)).square().sum(dims), self.group) / count
        with torch.no_grad():
            self._follow(mean, var)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.gamma is not None:
            y = y * self.gamma.view(shape)
        if self.beta is not None:
            y = y + self.beta.view(shape)
        return y.to(dtype)

    def _follow(self, mean, var):
        m = self.momentum
        self.moving_mean.mul_(m).add_((1 - m) * mean.detach())
        self.moving_variance.mul_(m).add_((1 - m) * var.detach())


def _all_reduce(t, group):
    import torch.distributed.nn.functional as dist_fn  # differentiable collectives

    return dist_fn.all_reduce(t, group=group)


def _per_channel(v, x):
    """A vector [C] shaped to broadcast over x's channels (maps NCHW or vectors NC)."""
    return v.view(1, -1, 1, 1) if x.dim() == 4 else v


class PReLU(nn.Module):
    """x >= 0 ? x : alpha_c x, one slope per channel, starting at `init`."""

    def __init__(self, channels, init=0.25):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, x):
        return torch.where(x >= 0, x, _per_channel(self.alpha, x) * x)


class Bias(nn.Module):
    """x + b_c, a learnable shift a channel starting at 0 (ReActNet's RSign and RPReLU shifts)."""

    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return x + _per_channel(self.bias, x)


def multiply(x, s):
    """x * s, where s has x's shape or is a vector [C] broadcast over H and W (squeeze-and-excite)."""
    return x * (s.view(*s.shape, 1, 1) if x.dim() == 4 and s.dim() == 2 else s)


def add_into(x, z, offset):
    """x with z added into its channels offset ... offset + C_z - 1 (MeliusNet's improvement block)."""
    end = offset + z.shape[1]
    return torch.cat([x[:, :offset], x[:, offset:end] + z, x[:, end:]], 1)


class Dropout(nn.Module):
    """Inverted dropout: x * mask, mask 0 with probability `rate` and 1 / (1 - rate) otherwise.
    `mask` (set per step by set_noise) is used when given; else one is drawn from torch's generator."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate
        self.mask = None

    def forward(self, x):
        if not self.training or self.rate == 0:
            return x
        mask = self.mask
        if mask is None:
            mask = (torch.rand_like(x) >= self.rate).to(x.dtype) / (1 - self.rate)
        return x * mask.view_as(x)


class Join(nn.Module):
    """A fractal join. In training, `mask` (one 0/1 per input, at least one 1, set per batch by
    set_noise) drops paths: mean = sum m_i x_i / sum m_i, sum = sum m_i x_i, max over kept inputs,
    concat multiplies each input by its bit. Without a mask (inference) every input is kept."""

    def __init__(self, mode="mean"):
        super().__init__()
        self.mode = mode
        self.mask = None

    def forward(self, *xs):
        mask = self.mask if self.training and self.mask is not None else [1.0] * len(xs)
        if self.mode == "concat":
            return torch.cat([x * m for x, m in zip(xs, mask)], 1)
        if self.mode == "max":
            kept = [x if m else x * 0 - float("inf") for x, m in zip(xs, mask)]  # dropped: never wins, gradient 0
            return torch.stack(kept).max(0).values
        weights = [m / sum(mask) for m in mask] if self.mode == "mean" else mask
        y = xs[0] * weights[0]
        for x, w in zip(xs[1:], weights[1:]):
            y = y + x * w
        return y


class Scope(nn.Module):
    """A level of the parameter names with no forward of its own, e.g. a fractal column whose units
    interleave with the joins: the block above it calls its children."""

    def __init__(self, **children):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)


def max_pool2d(x, kernel_size, stride, padding=0):
    """Max pooling; padded cells never win."""
    pads = _pads(padding)
    return F.max_pool2d(_pad(x, pads, float("-inf")), kernel_size, stride)


def avg_pool2d(x, kernel_size, stride, padding=0):
    """Average pooling; padded cells are left out of the count (TensorFlow's 'same')."""
    pads = _pads(padding)
    if not any(pads):
        return F.avg_pool2d(x, kernel_size, stride)
    sums = F.avg_pool2d(_pad(x, pads), kernel_size, stride, divisor_override=1)
    ones = _pad(torch.ones_like(x[:1, :1]), pads)
    return sums / F.avg_pool2d(ones, kernel_size, stride, divisor_override=1)


# Training noise, as SoFAr's engines draw it (docs/semantics.md "Drop-path sampling"): the same
# generator (xoshiro128** seeded through splitmix32), streams and draw order, so that a run here sees
# the masks a SoFAr engine sees for the same seed and step.

_M32 = 0xFFFFFFFF


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & _M32


def _fnv1a(text):
    h = 0x811C9DC5
    for ch in text:
        h = ((h ^ ord(ch)) * 0x01000193) & _M32
    return h


class SofarRandom:
    """SoFAr's seeded generator (src/random.ts), number for number."""

    def __init__(self, seed, stream=""):
        state = (int(seed) & _M32) ^ _fnv1a(stream)
        words = []
        for _ in range(4):
            state = (state + 0x9E3779B9) & _M32
            z = state
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & _M32
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & _M32
            words.append(z ^ (z >> 16))
        self.s = words

    def next_uint32(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & _M32, 7) * 9) & _M32
        t = (s1 << 9) & _M32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        self.s = [s0, s1, s2, _rotl(s3, 11)]
        return result

    def uniform(self):
        return self.next_uint32() / 4294967296

    def int(self, n):
        return int(self.uniform() * n)

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.int(i + 1)
            items[i], items[j] = items[j], items[i]
        return items


def epoch_order(n, seed, epoch):
    """The sample order of an epoch, as SoFAr's training loop draws it."""
    return SofarRandom(seed, f"shuffle/{epoch}").shuffle(list(range(n)))


def drop_path_masks(seed, step, plan=None):
    """The drop-path mask of every join for optimizer step `step`: {join name: [0/1 per input]}."""
    plan = plan or DROP_PATH
    joins = plan["joins"]
    if not joins:
        return {}
    rng = SofarRandom(seed, f"droppath/{step}")
    masks = {}
    if rng.uniform() < plan["global_rate"]:
        column = 1 + rng.int(plan["max_columns"])
        for name, columns, _local, fractal_columns in joins:
            target = min(column, fractal_columns)
            mask = [1.0 if c == target else 0.0 for c in columns]
            masks[name] = mask if any(mask) else [1.0] * len(columns)
        return masks
    for name, columns, local, _fractal_columns in joins:
        mask = [0.0 if rng.uniform() < local else 1.0 for _ in columns]
        if not any(mask):
            mask[rng.int(len(mask))] = 1.0
        masks[name] = mask
    return masks


def set_noise(model, join_masks=None, dropout_masks=None):
    """Hands one step's drop-path masks (by join name) and dropout masks (by dropout name, tensors
    shaped like the layer's output; None: drawn by the layer) to the layers."""
    for name, mask in (join_masks or {}).items():
        model.get_submodule(name.replace("/", ".")).mask = mask
    for name, mask in (dropout_masks or {}).items():
        model.get_submodule(name.replace("/", ".")).mask = mask


# Checkpoints: SoFAr's format (src/checkpoint), a safetensors file holding every parameter under its
# graph name ('stage1/unit1/bconv/kernel'), optimizer slots as '<param>/m', '<param>/v' (Adam, and
# train.py's Bop: a binary kernel's m is Bop's average, its v 0) or '<param>/momentum' (SGD), and the
# training position in __metadata__. Written with plain Python:
# [8-byte little-endian header length][JSON header, space-padded to 8 bytes][raw little-endian data].

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}
_SLOTS = {"exp_avg": "m", "exp_avg_sq": "v", "momentum_buffer": "momentum"}


def graph_name(key):
    """A state_dict key ('stage1.unit1.bconv.kernel') as SoFAr names the parameter ('stage1/unit1/bconv/kernel')."""
    return key.replace(".", "/")


def read_safetensors(path):
    """{name: float32 tensor}, {metadata}."""
    if sys.byteorder != "little":
        raise RuntimeError("safetensors data are little-endian; this reader runs on little-endian hosts only")
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n :]
    tensors = {}
    for name, entry in header.items():
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor '{name}' holds {entry['dtype']} values, not floating-point")
        begin, end = entry["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(entry["shape"]).float()
    return tensors, meta


def write_safetensors(path, tensors, metadata):
    """Writes {name: tensor} (as F32, in the given order) and string metadata, atomically."""
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    chunks, offset = [], 0
    for name, t in tensors.items():
        raw = t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)


def checkpoint_file(path):
    return os.path.join(path, "checkpoint.safetensors") if os.path.isdir(path) else path


def save_checkpoint(model, path, optimizer=None, *, epoch=0, step=0, seed=0, config=None, engine="torch",
                    normalisation=None, partial_epoch=None):
    """Writes SoFAr's checkpoint of `model` (and the optimizer's slots) to `path` (a file or a folder),
    with what SoFAr's engines record: the model parameters (MODEL_PARAMS), the input normalisation
    ({dataset, mean, std}) and, mid-epoch, the epoch's sums so far (partial_epoch)."""
    path = checkpoint_file(path)
    state = model.state_dict()
    tensors = {graph_name(k): v for k, v in state.items()}
    if optimizer is not None:
        names = {id(p): graph_name(k) for k, p in model.named_parameters()}
        for group in optimizer.param_groups:
            for p in group["params"]:
                for slot, suffix in _SLOTS.items():
                    value = optimizer.state.get(p, {}).get(slot)
                    if value is not None:
                        tensors[f"{names[id(p)]}/{suffix}"] = value
    meta = {"format": "sofar-checkpoint", "version": "1", "spec": SPEC, "params_hash": PARAMS_HASH,
            "seed": str(seed), "engine": engine, "epoch": str(epoch), "step": str(step)}
    compact = {"separators": (",", ":")}
    if config is not None:
        meta["config"] = json.dumps(config, **compact)
    if normalisation is not None:
        meta["normalisation"] = json.dumps(normalisation, **compact)
    meta["model_params"] = json.dumps(MODEL_PARAMS, **compact)
    if partial_epoch is not None:
        meta["partial_epoch"] = json.dumps(partial_epoch, **compact)
    write_safetensors(path, tensors, meta)
    return path


def load_checkpoint(model, path, optimizer=None):
    """Loads a SoFAr checkpoint (written by any engine) into `model` and, given one, the optimizer's
    slots; returns its metadata (epoch, step, seed, config as a dict)."""
    path = checkpoint_file(path)
    tensors, meta = read_safetensors(path)
    if meta.get("params_hash") not in (None, PARAMS_HASH):
        raise ValueError(f"{path} was trained for model '{meta.get('spec')}' with other parameters than '{SPEC}'")
    state = model.state_dict()
    missing = [graph_name(k) for k in state if graph_name(k) not in tensors]
    if missing:
        raise ValueError(f"{path} lacks {len(missing)} parameter(s) of '{SPEC}': {', '.join(missing[:3])}")
    with torch.no_grad():
        for key, value in state.items():
            value.copy_(tensors[graph_name(key)].reshape(value.shape))
    meta = dict(meta)
    for key in ("epoch", "step", "seed"):
        meta[key] = int(meta.get(key, 0))
    meta["config"] = json.loads(meta["config"]) if "config" in meta else {}
    if optimizer is not None:
        for key, p in model.named_parameters():
            slots = {slot: tensors.get(f"{graph_name(key)}/{suffix}") for slot, suffix in _SLOTS.items()}
            slots = {slot: t.reshape(p.shape).to(p.device) for slot, t in slots.items() if t is not None}
            if slots:
                if "exp_avg" in slots:
                    slots["step"] = torch.tensor(float(meta["step"]))
                optimizer.state[p] = slots
    return meta
