"""One timing round of coetaur0/ESIM (PyTorch) on the batches written by ``bench/esim_vs_pytorch.py``.

Run by that benchmark with a Python that has PyTorch (CPU); it needs only numpy, torch and a checkout of
https://github.com/coetaur0/ESIM (the reference is imported from ``--reference_dir``, not copied). The training
step is the reference's own recipe (``scripts/training/utils.py``): cross-entropy on the logits, gradient norm
clipped to 10, Adam (learning rate and dropout from the batches file: the paper's 4e-4 and 0.5 by default);
inference is ``model.eval()`` under ``torch.no_grad()``.

    python bench/esim_reference_worker.py --reference_dir=/work/ref/ESIM --batches=b.npz --output=r.json
"""
import argparse
import importlib
import json
import sys
import time

import numpy as np
import torch


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference_dir", required=True, help="checkout of coetaur0/ESIM")
    parser.add_argument("--batches", required=True, help=".npz written by bench/esim_vs_pytorch.py")
    parser.add_argument("--output", required=True, help="JSON file for this round's figures")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    return parser.parse_args()


def _batch(data, indices):
    """Tensors of one batch padded to its own longest premise / hypothesis, as the reference's data loader."""
    out = []
    for side in ("premise", "hypothesis"):
        lengths = data[f"{side}_length"][indices]
        ids = data[side][indices][:, :int(lengths.max())]
        out += [torch.from_numpy(np.ascontiguousarray(ids).astype(np.int64)), torch.from_numpy(lengths.astype(np.int64))]
    return out, torch.from_numpy(data["label"][indices].astype(np.int64))


def main():
    args = _parse()
    sys.path.insert(0, args.reference_dir)
    ESIM = importlib.import_module("esim.model").ESIM  # noqa: N806 (the reference's class)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = dict(np.load(args.batches))
    sizes = json.loads(str(data["sizes"]))
    model = ESIM(sizes["vocab_size"], sizes["embedding_dim"], sizes["hidden_units"], dropout=sizes["dropout"],
                 num_classes=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(data["learning_rate"]))
    criterion = torch.nn.CrossEntropyLoss()
    tasks = {k[len("task_"):]: [_batch(data, row) for row in data[k]] for k in data if k.startswith("task_")}

    def train(batches):
        model.train()
        start = time.perf_counter()
        for (p, pl, h, hl), y in batches:
            optimizer.zero_grad()
            logits, _ = model(p, pl, h, hl)
            criterion(logits, y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
        return time.perf_counter() - start

    def infer(batches):
        model.eval()
        times = []
        with torch.no_grad():
            for (p, pl, h, hl), _ in batches:
                start = time.perf_counter()
                model(p, pl, h, hl)[1].numpy()
                times.append(time.perf_counter() - start)
        return times

    for name, batches in tasks.items():  # warm-up: one batch of every task
        (train if name.startswith("train") else infer)(batches[:1])
    figures = {}
    for name, batches in tasks.items():
        pairs = sum(len(y) for _, y in batches)
        if name.startswith("train"):
            figures[name] = pairs / train(batches)
        elif name == "single":
            figures[name] = float(np.median(infer(batches))) * 1000
        else:
            figures[name] = pairs / sum(infer(batches))
    with open(args.output, "w") as f:
        json.dump(figures, f)


if __name__ == "__main__":
    main()
