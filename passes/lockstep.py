"""Stepping a torch twin through its graph node by node, over calibration data in chunks.

A Stepper holds the values computed so far (one tensor per chunk of samples), runs nodes
when asked (`run`), or runs ahead until a tensor exists (`value`), and frees a value once
every node that reads it has run, unless it is pinned. Reconstruction steps the dense and
the pruned twins side by side this way, so only the live tensors of both are in memory.
"""

from __future__ import annotations

from collections import Counter

import torch


class Stepper:
    def __init__(self, twin, batches: list[dict[str, torch.Tensor]]):
        self.twin = twin
        self.env: dict[str, list[torch.Tensor]] = {n: [b[n] for b in batches] for n in twin.input_names}
        self.chunks = len(batches)
        self.position = 0
        self.done: set[str] = set()
        self.produced = {o for n in twin.nodes for o in n.outputs}
        self.readers = Counter(i for n in twin.nodes for i in n.inputs if i)
        self.keep = set(twin.output_names)
        self.pinned: set[str] = set()

    def pin(self, names) -> None:
        self.pinned.update(names)

    def release(self, name: str) -> None:
        self.pinned.discard(name)
        if self.readers.get(name, 0) <= 0 and name not in self.keep:
            self.env.pop(name, None)

    def value(self, name: str) -> list[torch.Tensor]:
        """The tensor's chunks, running nodes in order until it is computed."""
        while name not in self.env and name in self.produced:
            self.run(self.twin.nodes[self.position])
        if name in self.env:
            return self.env[name]
        constant = self.twin.constant(name)
        if constant is None:
            raise KeyError(f"tensor {name!r} is neither computed nor a constant")
        return [constant] * self.chunks

    def run(self, node) -> None:
        """Run `node`, which must be the next one in order (or the one `value` reached)."""
        if node.name in self.done:
            return
        if self.twin.nodes[self.position] is not node:
            raise RuntimeError(f"node {node.name} run out of order")
        self.position += 1
        self.done.add(node.name)
        inputs = [self._input(i) for i in node.inputs]
        with torch.no_grad():
            outputs = [self.twin.run_node(node, [v[c] if v is not None else None for v in inputs])
                       for c in range(self.chunks)]
        for j, name in enumerate(node.outputs):
            if name:
                self.env[name] = [o[j] for o in outputs]
        for i in node.inputs:
            if i:
                self.readers[i] -= 1
                if self.readers[i] <= 0 and i not in self.pinned and i not in self.keep:
                    self.env.pop(i, None)

    def _input(self, name: str):
        if not name:
            return None
        if name in self.env:
            return self.env[name]
        return self.value(name)
