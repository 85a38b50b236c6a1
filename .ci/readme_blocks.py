"""Writes the README's two shell blocks, "set up and run" and "set up and test", to numbered files.

They are the ```bash blocks that begin by making the venv inside the clone; .ci/run runs them as
written, and tests/test_docs.py checks that there are exactly two. Usage:
``python3 .ci/readme_blocks.py README.md OUT_DIR`` (writes OUT_DIR/1-run.sh, OUT_DIR/2-test.sh).
"""

import pathlib
import re
import sys

VENV_LINE = "python -m venv .venv && . .venv/bin/activate"
NAMES = ["run", "test"]


def user_blocks(markdown):
    """The ```bash blocks of ``markdown`` whose first line makes the venv, in order, as strings."""
    blocks = re.findall(r"^```bash\n(.*?)^```", markdown, re.S | re.M)
    return [block for block in blocks if block.startswith(VENV_LINE + "\n")]


def main(readme, out):
    blocks = user_blocks(pathlib.Path(readme).read_text())
    if len(blocks) != len(NAMES):
        sys.exit(f"{readme}: {len(blocks)} bash blocks begin with {VENV_LINE!r}; expected {len(NAMES)} "
                 f"({' and '.join(NAMES)})")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for number, (name, block) in enumerate(zip(NAMES, blocks, strict=True), 1):
        (out / f"{number}-{name}.sh").write_text(block)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python3 .ci/readme_blocks.py README.md OUT_DIR")
    main(*sys.argv[1:])
