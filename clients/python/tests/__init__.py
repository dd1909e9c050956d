"""Tests of tlog_ai. Run ``python3 -m unittest`` in clients/python, or
``python3 -m unittest discover -s clients/python/tests`` from the repo root."""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
for _p in (_here, os.path.dirname(_here)):
    if _p not in sys.path:
        sys.path.insert(0, _p)
