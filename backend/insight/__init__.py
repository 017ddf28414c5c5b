"""Insight: statistics, KP returns, coverage, non-reporting, spot checks and exports."""
