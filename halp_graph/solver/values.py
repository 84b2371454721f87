"""Which channels a kept count keeps, and what they are worth.

A group keeps its highest-scoring channels. A group that feeds a grouped conv is split
into `blocks` equal consecutive blocks that must keep the same number of channels, so a
kept count `c` keeps the top `c / blocks` channels of every block. Ties go to the lower
channel index, so plans are deterministic.
"""

from __future__ import annotations

import numpy as np


def block_order(scores: np.ndarray, blocks: int) -> list[np.ndarray]:
    """Per block, the channel indices (of the whole group) from most to least salient."""
    per = len(scores) // blocks
    orders = []
    for b in range(blocks):
        block = scores[b * per:(b + 1) * per]
        # lexsort sorts by the last key first: score descending, then index ascending
        order = np.lexsort((np.arange(per), -block))
        orders.append(b * per + order)
    return orders


def kept_channels(scores: np.ndarray, blocks: int, count: int) -> list[int]:
    """Sorted indices of the `count` channels kept: the top count/blocks of each block."""
    if count % blocks:
        raise ValueError(f"kept count {count} is not a multiple of {blocks} blocks")
    per_block = count // blocks
    kept = np.concatenate([order[:per_block] for order in block_order(scores, blocks)])
    return sorted(int(i) for i in kept)


def count_values(scores: np.ndarray, blocks: int, counts) -> np.ndarray:
    """Total saliency kept at each of `counts` (each a multiple of `blocks`)."""
    prefix = np.zeros(len(scores) // blocks + 1)
    for order in block_order(scores, blocks):
        prefix[1:] += np.cumsum(scores[order])
    counts = np.asarray(counts, dtype=np.int64)
    return prefix[counts // blocks]
