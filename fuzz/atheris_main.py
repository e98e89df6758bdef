"""Coverage-guided fuzzing of one target with atheris (libFuzzer), one process per run.

Usage (normally started by ``run.py``)::

    python fuzz/atheris_main.py header CORPUS_DIR SEED_DIR -max_total_time=60 -timeout=2

The first argument names the target (see ``fuzz_targets.TARGETS``); the rest go to
libFuzzer. rasteret is instrumented for coverage, NumPy and the codecs are not (their
branches are not ours to explore, and instrumenting them would slow every input).
"""

from __future__ import annotations

import sys
import tracemalloc

import atheris  # type: ignore[import-untyped]  # ships no stubs

with atheris.instrument_imports(include=["rasteret"]):
    import fuzz_targets


def main() -> None:
    """Run libFuzzer on the named target until it finds a violation or runs out of time."""
    name, *rest = sys.argv[1:]
    target = fuzz_targets.TARGETS[name]
    tracemalloc.start()

    def one_input(data: bytes) -> None:
        fuzz_targets.run_strict(target, data)

    atheris.Setup([sys.argv[0], *rest], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
