"""Engine overhead: what one op and one small training step cost in minigrad, next to PyTorch (CPU).

    python -m minigrad.bench            # under a minute
    python -m minigrad.bench --quick    # a few seconds, rougher numbers

Rows:
  add (1 elem) / add (1000 elem)            c = a + b with no graph: the Python cost of one op call
  add + backward (1 elem / 1000 elem)      c = a + b on tensors that require grad, then c.backward(g):
                                            building the graph node, the topological walk, accumulation
  MLP train step                           784-256-256-10 ReLU MLP, batch 64, softmax cross-entropy, Adam:
                                            zero_grad, forward, backward, step (float32)

Each number is the median over repeats of the mean time per call within a repeat (time.perf_counter),
after a warm-up. The PyTorch column uses the same ops (matmul, relu, logsumexp; torch.optim.Adam with
foreach=False) so the ratio compares engines, not model definitions. Threads are left at their
defaults (NumPy's BLAS and torch's intra-op pool) and printed.

What to expect: for tiny tensors minigrad pays a Python-level Function.apply (context, checks,
wrapping) where PyTorch dispatches in C++, so the per-op ratio is large; for the MLP both spend most
of the time in the same BLAS matmuls, so the ratio is close to 1 plus minigrad's Python overhead.
"""
import argparse
import statistics
import time

import numpy as np

from minigrad import Tensor, optim


def measure(fn, calls, repeats, warmup=3):
    """Median over `repeats` of the mean seconds per call of `fn` over `calls` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


# ----------------------------------------------------------------------------- the cases, minigrad

def minigrad_add(n, grad):
    a = Tensor(np.ones(n, np.float32), requires_grad=grad)
    b = Tensor(np.ones(n, np.float32), requires_grad=grad)
    seed = Tensor(np.ones(n, np.float32))
    if not grad:
        return lambda: a + b
    return lambda: (a + b).backward(seed)


def minigrad_mlp(batch=64, sizes=(784, 256, 256, 10)):
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(Tensor(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32), requires_grad=True))
        params.append(Tensor(np.zeros(fan_out, np.float32), requires_grad=True))
    x = Tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    one_hot = Tensor(np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)])
    opt = optim.Adam(params, lr=1e-3)

    def step():
        opt.zero_grad()
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = h.relu()
        loss = (h.logsumexp(1) - (h * one_hot).sum(1)).mean()     # softmax cross-entropy
        loss.backward()
        opt.step()
    return step


# ----------------------------------------------------------------------------- the same cases, PyTorch

def torch_add(torch, n, grad):
    a = torch.ones(n, requires_grad=grad)
    b = torch.ones(n, requires_grad=grad)
    seed = torch.ones(n)
    if not grad:
        return lambda: a + b
    return lambda: (a + b).backward(seed)


def torch_mlp(torch, batch=64, sizes=(784, 256, 256, 10)):
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
        params.append(torch.tensor(w, requires_grad=True))
        params.append(torch.zeros(fan_out, requires_grad=True))
    x = torch.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    one_hot = torch.tensor(np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)])
    opt = torch.optim.Adam(params, lr=1e-3, foreach=False)

    def step():
        opt.zero_grad()
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = h.relu()
        loss = (h.logsumexp(1) - (h * one_hot).sum(1)).mean()
        loss.backward()
        opt.step()
    return step


# ----------------------------------------------------------------------------- the table

def run(quick=False):
    try:
        import torch
    except ImportError:
        torch = None
    op_calls, op_repeats = (200, 5) if quick else (2000, 15)
    mlp_calls, mlp_repeats = (3, 3) if quick else (10, 9)

    rows = []   # (name, unit, seconds per call in minigrad, in torch or None)
    for n in (1, 1000):
        for grad in (False, True):
            name = f"add ({n} elem)" + (" + backward" if grad else "")
            ours = measure(minigrad_add(n, grad), op_calls, op_repeats)
            theirs = measure(torch_add(torch, n, grad), op_calls, op_repeats) if torch else None
            rows.append((name, "us", ours, theirs))
    ours = measure(minigrad_mlp(), mlp_calls, mlp_repeats)
    theirs = measure(torch_mlp(torch), mlp_calls, mlp_repeats) if torch else None
    rows.append(("MLP 784-256-256-10 b64 Adam step", "ms", ours, theirs))
    print_table(rows, torch)


def print_table(rows, torch):
    scale = {"us": 1e6, "ms": 1e3}
    print(f"minigrad engine overhead  (numpy {np.__version__}"
          + (f", torch {torch.__version__} with {torch.get_num_threads()} threads)" if torch else ", torch not installed)"))
    header = f"{'case':<34} {'unit':>4} {'minigrad':>10} {'torch':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, unit, ours, theirs in rows:
        ours_s = f"{ours * scale[unit]:10.2f}"
        theirs_s = f"{theirs * scale[unit]:10.2f}" if theirs is not None else f"{'-':>10}"
        ratio_s = f"{ours / theirs:7.1f}" if theirs else f"{'-':>7}"
        print(f"{name:<34} {unit:>4} {ours_s} {theirs_s} {ratio_s}")
    print("ratio = minigrad time / torch time (higher is slower); medians over repeats, after warm-up")


def main(argv=None):
    parser = argparse.ArgumentParser(description="minigrad engine overhead vs PyTorch CPU")
    parser.add_argument("--quick", action="store_true", help="fewer repeats: a few seconds, rougher numbers")
    args = parser.parse_args(argv)
    run(quick=args.quick)


if __name__ == "__main__":
    main()
