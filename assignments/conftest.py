"""Lets the public tests import your modules (mlp.py, ...) from this folder."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
