"""Fixtures shared by the whole suite."""
import os

# Tests always run on the embedded dataset and never open a window, whatever the machine has.
os.environ.setdefault("ASSIGNMENT_DATA", "embedded")
os.environ.setdefault("MPLBACKEND", "Agg")
