"""Twin tests run torch on one thread, like the ORT sessions they compare against: with
two threads on a busy 2-core machine, small matmuls wait on each other (30 ms instead of
0.1 ms). The previous setting is restored for the rest of the session."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
