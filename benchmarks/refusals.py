"""Every bad input of ``tests/refusal_cases.py``, tried as a new user would: a markdown table of the
exit code, the first line of the message, the heavy libraries imported, and seconds to the refusal.

    python benchmarks/refusals.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from refusal_cases import CASES, command  # noqa: E402 - the cases live with the tests that check them


def main() -> None:
    print("| bad input | exit | message | imported | seconds |\n|---|---:|---|---|---:|")
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            args = case.build(Path(folder))
            started = time.perf_counter()
            result = subprocess.run(command(args), capture_output=True, text=True, env={**os.environ, "COLUMNS": "1000"})
            seconds = time.perf_counter() - started
            lines = result.stderr.strip().splitlines()
            # merauto's refusals start "error:"; argparse's "merauto search: error:"
            first = next((i for i, line in enumerate(lines) if line.startswith("error:") or ": error: " in line), 0)
            message = lines[first] if lines else ""
            if message.endswith("would break a search:") and first + 1 < len(lines):  # a dataset's problems follow, one a line
                message += " " + lines[first + 1].strip()
            message = message.replace(folder, "…").replace("|", "\\|")
            imported = lines[-1].removeprefix("imported:").strip() if lines else ""
            print(f"| {case.name} | {result.returncode} | {message[:220]} | {imported or '-'} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
