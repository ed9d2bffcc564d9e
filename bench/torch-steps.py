# The PyTorch side of bench/train.ts: a long-lived process that trains SoFAr's own PyTorch backend
# (the model.py and train.py that `sofar build SPEC --target torch` wrote into PROJECT) on random data
# and times N optimizer steps each time it is asked, so the two engines can alternate in one run.
#
#   python3 torch-steps.py PROJECT THREADS BATCH SEED
#
# stdin, one command a line:  `steps N`  (times N steps; answers one JSON line)  or  `quit`.
# Each step is train.py's own: drop-path masks for the step, train_step (forward, cross-entropy,
# backward, Adam with the weight decay, clipping, flip count), then the loss and the number correct
# read back to Python as train.py's loop reads them.
import json
import sys
import time

project, threads, batch, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, project)

import torch  # noqa: E402

torch.set_num_threads(threads)
import train  # noqa: E402  (the project's train.py; it imports model.py as train.spec)

spec = train.spec
args = train.parse_args(["--weight-decay", "1e-4", "--optimizer", "adam", "--lr", "1e-3", "--threads", str(threads)])
torch.manual_seed(seed)
model = spec.create_model()
train.initialise(model, args, lambda *a, **k: None)
optimizer = train.make_optimizer(model, args)
flips = train.FlipCounter(model)
scaler = torch.cuda.amp.GradScaler(enabled=False)
generator = torch.Generator().manual_seed(seed)


def random_batch(shape, classes):
    return torch.randn((batch, *shape), generator=generator), torch.randint(0, classes, (batch,), generator=generator)


step = 0


def run_steps(n, data):
    global step
    model.train()
    times = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        x, y = data[step % len(data)]
        s0 = time.perf_counter()
        spec.set_noise(model, spec.drop_path_masks(seed, step))
        logits, loss, flip_ratio, _ = train.train_step(model, model, optimizer, scaler, flips, x, y)
        loss.item(), (logits.argmax(1) == y).sum().item()
        if flip_ratio is not None:
            flip_ratio.item()
        times.append((time.perf_counter() - s0) * 1000)
        step += 1
    return {"steps": n, "wallMs": (time.perf_counter() - wall0) * 1000, "cpuMs": (time.process_time() - cpu0) * 1000, "stepMs": times}


def main():
    shape, classes = json.loads(sys.stdin.readline())
    data = [random_batch(shape, classes), random_batch(shape, classes)]
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "steps":
            print(json.dumps(run_steps(int(words[1]), data)), flush=True)
        else:
            print(json.dumps({"error": f"unknown command '{line.strip()}'"}), flush=True)


main()
