"""Trajectory recording, grading and export to SFT / DPO datasets."""
