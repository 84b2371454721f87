"""Training and evaluation loops for the Fashion-MNIST network (dense training, fine-tuning).

SGD with Nesterov momentum and a cosine learning rate, random 2-pixel shifts and
horizontal flips as augmentation, one CPU thread by default (the machine is shared; one
thread is also the fastest for a network this small). `train` calls `after_backward`
between backward and the optimizer step: that is where `HALPPruner.step` goes.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

from .fmnist_data import MEAN, STD

BACKGROUND = (0.0 - MEAN) / STD  # the normalised value of a black pixel


def augment(x: torch.Tensor, gen: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Shift each image by up to `shift` pixels (filling with background) and flip half."""
    b, _, h, w = x.shape
    padded = F.pad(x, (shift,) * 4, value=BACKGROUND)
    dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]
    out = padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Top-1 accuracy in percent (eval mode; the training flag is restored)."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    model.train(was)
    return 100.0 * correct / len(x)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 5e-4) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, iterations: int, lr: float,
          batch: int = 128, seed: int = 0, optimizer: torch.optim.Optimizer | None = None,
          after_backward: Callable[[int], None] | None = None,
          on_iteration: Callable[[int, torch.optim.Optimizer], torch.optim.Optimizer | None] | None = None,
          log_every: int = 0) -> torch.optim.Optimizer:
    """`iterations` SGD steps with a cosine schedule from `lr` to 0.

    `after_backward(i)` runs between backward and the optimizer step; `on_iteration(i,
    optimizer)` runs after the step and may return a replacement optimizer (after
    slimming)."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = optimizer or make_optimizer(model, lr)
    model.train()
    start = time.time()
    for i in range(iterations):
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * i / iterations))
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        loss = F.cross_entropy(model(augment(x[idx], gen)), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if after_backward is not None:
            after_backward(i)
        optimizer.step()
        if on_iteration is not None:
            optimizer = on_iteration(i, optimizer) or optimizer
        if log_every and (i + 1) % log_every == 0:
            print(f"  iter {i + 1}/{iterations}  loss {loss.item():.3f}  {time.time() - start:.0f}s", flush=True)
    return optimizer
