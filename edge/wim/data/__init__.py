"""Packaged data tables of edge.wim (vehicle classes)."""
