"""Write a real training sequence for bench/reduce.ts with ``sentrycam.Monitor(record=...)``.

A small MLP (64→128→64→10, torch, CPU) trains on scikit-learn's digits; the monitor captures the
first hidden layer (its ReLU, named ``hidden1``) on all 1,797 samples every few steps and records
each capture, exactly as a user's recording would be written.

Usage: reduce_make_digits_sequence.py OUT.arrows [--captures 40] [--every 10] [--seed 0]
"""

import argparse
from collections import OrderedDict

import torch
from sklearn.datasets import load_digits

import sentrycam


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--captures", type=int, default=40)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    model = torch.nn.Sequential(
        OrderedDict(
            fc1=torch.nn.Linear(64, 128),
            hidden1=torch.nn.ReLU(),
            fc2=torch.nn.Linear(128, 64),
            hidden2=torch.nn.ReLU(),
            out=torch.nn.Linear(64, 10),
        )
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(args.seed)
    steps = args.captures * args.every
    with sentrycam.Monitor(
        model, layers=["hidden1"], probe=(x, y), every=args.every, record=args.out, metrics=False
    ) as cam:
        for step in range(steps):
            idx = torch.randint(0, len(x), (64,), generator=gen)
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            cam.step(step, loss=loss.item())
    print(f"wrote {args.captures} captures of hidden1 (1797 x 128) to {args.out}")


if __name__ == "__main__":
    main()
