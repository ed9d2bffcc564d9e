"""Runs generated models for the tests: reads a JSON list of jobs on stdin, answers one JSON line.

Each job names a folder written by `sofar build --target torch` (model.py, init.safetensors) and a
raw little-endian float32 input file; it writes the logits (`forward`, eval mode), the loss and the
gradient of every trainable parameter (`gradients`, training mode with the given masks) as a
safetensors file keyed by graph names, the same in float64 beside central differences of the loss
(`fd`), a quantizer's forward and gradient (`quantizer`), a run of train.py (`train`), or (`step`) one optimizer step of train.py's (`args`: its
options) from the weights and slots of the checkpoint `state`, as the checkpoint `output`.
"""
import importlib.util
import json
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)


def load(folder):
    spec = importlib.util.spec_from_file_location(f"model_{abs(hash(folder))}", f"{folder}/model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.create_model()
    module.load_checkpoint(model, f"{folder}/init.safetensors")
    return module, model


def load_train(folder):
    """The project's train.py as a module (it imports the model.py beside it as `model`)."""
    sys.modules.pop("model", None)
    spec = importlib.util.spec_from_file_location(f"train_{abs(hash(folder))}", f"{folder}/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step(job):
    train = load_train(job["dir"])
    module = train.spec
    model = module.create_model()
    optimizer = train.make_optimizer(model, train.parse_args(job["args"]))
    meta = module.load_checkpoint(model, job["state"], optimizer)
    for group in optimizer.param_groups:
        group["lr"] = job["lr"]
    x = read_floats(job["input"], [job["n"], *module.INPUT_SHAPE])
    model.train()
    dropout = {name: torch.tensor(mask).reshape(job["n"], -1) for name, mask in job.get("dropout", {}).items()}
    module.set_noise(model, job.get("joins", {}), dropout)
    flips = train.FlipCounter(model)
    args = train.parse_args(job["args"])
    teacher = train.Teacher(args.teacher, args.teacher_weights, torch.device("cpu")) if args.teacher else None
    _, loss, ratio, kl = train.train_step(model, model, optimizer, torch.cuda.amp.GradScaler(enabled=False), flips, x,
                                          torch.tensor(job["labels"]), False, teacher and teacher(x),
                                          1.0 if args.distill_weight is None else args.distill_weight)
    module.save_checkpoint(model, job["output"], optimizer, step=meta["step"] + 1)
    return {"loss": loss.item(), "flipRatio": None if ratio is None else ratio.item(), "distillation": None if kl is None else kl.item()}


def finite_differences(job, module, model):
    """Training-mode loss gradients in float64: autograd's (`output`) and central differences of the
    loss in every parameter entry (`output` + '.fd'), both keyed by graph names."""
    model.double().train()
    x = read_floats(job["input"], [job["n"], *module.INPUT_SHAPE]).double()
    labels = torch.tensor(job["labels"])

    def loss():
        return F.cross_entropy(model(x), labels)

    value = loss()
    value.backward()
    grads, diffs, h = {}, {}, 1e-6
    with torch.no_grad():
        for key, p in model.named_parameters():
            grads[module.graph_name(key)] = p.grad
            d = torch.empty_like(p).reshape(-1)
            flat = p.view(-1)
            for i in range(flat.numel()):
                saved = flat[i].item()
                flat[i] = saved + h
                up = loss().item()
                flat[i] = saved - h
                down = loss().item()
                flat[i] = saved
                d[i] = (up - down) / (2 * h)
            diffs[module.graph_name(key)] = d.reshape(p.shape)
    module.write_safetensors(job["output"], grads, {})
    module.write_safetensors(job["output"] + ".fd", diffs, {})
    return {"loss": value.item()}


def quantizer(job, module):
    """A quantizer's forward and gradient. Activation quantizers: y = q(x) and dL/dx for dL/dy = dy.
    Weight quantizers, inside a layer (a 3x3 QuantConv2d on a [2, C, 5, 5] input, or QuantDense): the
    quantized kernel q, the gradient dL/dq of the loss sum(layer(x) * dy) through a plain convolution
    with q, and the gradient dL/dW the layer gives its latent kernel."""
    values = {k: torch.tensor(v, dtype=torch.float64) for k, v in job["tensors"].items()}
    fn = getattr(module, job["name"])
    if job["use"] == "activation":
        x = values["x"].requires_grad_()
        y = fn(x, **job["args"])
        y.backward(values["dy"])
        return {"y": y.tolist(), "dx": x.grad.tolist()}
    kernel = values["kernel"].reshape(job["shape"])
    q_fn = fn(**job["args"])
    conv = len(job["shape"]) == 4
    if conv:
        layer = module.QuantConv2d(job["shape"][1], job["shape"][0], 3, padding=1, bias=False, kernel_quantizer=q_fn)
    else:
        layer = module.QuantDense(job["shape"][0], job["shape"][1], bias=False, kernel_quantizer=q_fn)
    layer.double()
    with torch.no_grad():
        layer.kernel.copy_(kernel)
    x, dy = values["x"].reshape([2, -1, 5, 5] if conv else [2, -1]), values["dy"]
    layer(x).backward(dy.reshape(layer(x).shape))
    q = q_fn(kernel, 0 if conv else 1).detach().requires_grad_()
    plain = torch.nn.functional.conv2d(x, q, padding=1) if conv else x.matmul(q)
    plain.backward(dy.reshape(plain.shape))
    return {"q": q.detach().reshape(-1).tolist(), "dq": q.grad.reshape(-1).tolist(), "dw": layer.kernel.grad.reshape(-1).tolist()}


def train_run(job):
    """train.py's main() with `args`; with `stopAfterSaves` k, interrupted (as by Ctrl-C) right after its
    k-th checkpoint. Returns its exit code."""
    train = load_train(job["dir"])
    stop = job.get("stopAfterSaves")
    if stop:
        save, saves = train.spec.save_checkpoint, []

        def save_then_stop(*args, **kwargs):
            path = save(*args, **kwargs)
            saves.append(path)
            if len(saves) == stop:
                raise KeyboardInterrupt
            return path

        train.spec.save_checkpoint = save_then_stop
    return {"code": train.main(job["args"])}


def read_floats(path, shape):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(shape)


results = []
for job in json.load(sys.stdin):
    began = time.perf_counter()
    if job["kind"] == "step":
        results.append({"seconds": time.perf_counter() - began, **step(job)})
        continue
    if job["kind"] == "train":
        results.append({"seconds": time.perf_counter() - began, **train_run(job)})
        continue
    module, model = load(job["dir"])
    if job["kind"] == "fd":
        results.append({"seconds": time.perf_counter() - began, **finite_differences(job, module, model)})
        continue
    if job["kind"] == "quantizer":
        results.append({"seconds": time.perf_counter() - began, **quantizer(job, module)})
        continue
    x = read_floats(job["input"], [job["n"], *module.INPUT_SHAPE])
    if job["kind"] == "forward":
        model.eval()
        with torch.no_grad():
            y = model(x)
        with open(job["output"], "wb") as f:
            f.write(y.contiguous().numpy().astype("<f4").tobytes())
        results.append({"seconds": time.perf_counter() - began})
        continue
    model.train()
    dropout = {name: torch.tensor(mask).reshape(job["n"], -1) for name, mask in job.get("dropout", {}).items()}
    module.set_noise(model, job.get("joins", {}), dropout)
    logits = model(x)
    loss = F.cross_entropy(logits, torch.tensor(job["labels"]))
    loss.backward()
    grads = {module.graph_name(k): p.grad for k, p in model.named_parameters()}
    module.write_safetensors(job["output"], grads, {"loss": repr(loss.item())})
    results.append({"seconds": time.perf_counter() - began, "loss": loss.item()})
print(json.dumps(results))
