"""Alluvial diamond production tracking: registry, custody and KP internal-control evidence."""
