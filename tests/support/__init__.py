"""Helpers the Python suites share. Importing this package also refuses,
for the rest of the process, to open a Rust source: what the code states
comes from the facts file (support.project), never from parsing Rust."""

import os
import sys


def _refuse_rust_sources(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path.endswith(".rs"):
            raise PermissionError(f"{path}: the suites read the facts file (support.project), not Rust sources")


sys.addaudithook(_refuse_rust_sources)
