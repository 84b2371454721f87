"""Latency-budgeted pruning end to end: LUT, saliency, exact knapsack, rewrite, closed loop."""

from .api import PruneResult, check_goal, prune
from .report import REPORT_SCHEMA, summary

__all__ = ["prune", "PruneResult", "check_goal", "REPORT_SCHEMA", "summary"]
