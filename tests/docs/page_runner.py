"""Runs one page's program blocks in order in one namespace, as a reader would run them as one program.

`python page_runner.py BLOCKS.json` in the page's work folder; exits non-zero naming the failing block.
"""

from __future__ import annotations

import json
import sys
import traceback


def main(path: str) -> int:
    with open(path) as handle:
        blocks = json.load(handle)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in blocks:
        try:
            code = compile(
                block["code"], block["where"], "exec", dont_inherit=True
            )  # not this file's __future__ imports
            exec(code, namespace)  # noqa: S102 - the docs are ours
        except BaseException:
            traceback.print_exc()
            print(f"documentation block failed: {block['where']}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ".")
    sys.exit(main(sys.argv[1]))
