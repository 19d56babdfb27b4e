"""What a sandboxed child finds when it looks around (tests/sandbox_probes.py), as JSON.

    python tests/look_driver.py FOLDER OUT.json   # FOLDER holds the looking module as mlp.py"""
import json
import sys
from pathlib import Path

from autograder.isolation.sandbox import Limits, WarmParent
from tests.sandbox_probes import look_around

if __name__ == "__main__":
    with WarmParent(Limits(call_seconds=60), flavour="numpy") as parent:
        found = look_around(parent, Path(sys.argv[1]))
    Path(sys.argv[2]).write_text(json.dumps(found))
