"""Latency-budgeted pruning end to end: LUT, saliency, exact knapsack, rewrite, closed loop."""

from .api import PruneResult, check_goal, prune
from .latency_prune_pass import LatencyPrunePass, latency_prune
from .prune_report import REPORT_SCHEMA, summary

__all__ = ["prune", "PruneResult", "check_goal", "LatencyPrunePass", "latency_prune", "REPORT_SCHEMA", "summary"]
