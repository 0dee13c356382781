"""Running one benchmark section on its own: `python bench/SECTION.py [--quick] [--json]` (bench/run.py runs
them all)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def main(measure: Callable[[bool], dict[str, Any]], render: Callable[[dict[str, Any]], list[str]],
         description: str = "") -> int:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="small N, a few seconds; rough figures")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    result = measure(args.quick)
    print(json.dumps(result, indent=2) if args.json else "\n".join(render(result)))
    return 0
