"""Runs generated models for the tests: reads a JSON list of jobs on stdin, answers one JSON line.

Each job names a folder written by `sofar build --target torch` (model.py, init.safetensors) and a
raw little-endian float32 input file; it writes the logits (`forward`, eval mode), the loss and the
gradient of every trainable parameter (`gradients`, training mode with the given masks) as a
safetensors file keyed by graph names, or (`step`) one optimizer step of train.py's (`args`: its
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
    _, loss, ratio = train.train_step(model, model, optimizer, torch.cuda.amp.GradScaler(enabled=False), flips, x,
                                      torch.tensor(job["labels"]))
    module.save_checkpoint(model, job["output"], optimizer, step=meta["step"] + 1)
    return {"loss": loss.item(), "flipRatio": None if ratio is None else ratio.item()}


def read_floats(path, shape):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(shape)


results = []
for job in json.load(sys.stdin):
    began = time.perf_counter()
    if job["kind"] == "step":
        results.append({"seconds": time.perf_counter() - began, **step(job)})
        continue
    module, model = load(job["dir"])
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
