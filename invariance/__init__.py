"""Prove how normalization layers behave under re-scaling and re-centering."""
