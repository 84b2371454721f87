"""HALPPruner under torch.distributed: two gloo processes on the CPU, each training on its
own data shard, end with identical plans, saliencies and slim weights."""

from __future__ import annotations

import json

import pytest
import torch.multiprocessing as mp

import ddp_worker


@pytest.mark.parametrize("soft_masks", [False, True])
def test_two_rank_gloo_run_gives_every_rank_the_same_plan(tmp_path, soft_masks):
    mp.spawn(ddp_worker.run, args=(2, str(tmp_path), soft_masks), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert len(ranks[0]["plans"]) == 4
    assert ranks[0]["plans"] == ranks[1]["plans"]
    assert any(plan["keep"] for plan in ranks[0]["plans"])
    assert ranks[0]["scores"] == ranks[1]["scores"]  # all-reduced before the solve step
    assert ranks[0]["local_scores_differ"]  # ...although each rank saw different data
    assert ranks[0]["shapes"] == ranks[1]["shapes"]
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], rel=1e-6)
