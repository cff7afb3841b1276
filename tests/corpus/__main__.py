"""`python -m tests.corpus <dir>`: write every corpus case under `<dir>/<case>/` to look at."""

import sys
from pathlib import Path

from tests.corpus import all_cases

if __name__ == "__main__":
    out = Path(sys.argv[1])
    for case in all_cases():
        case.write(out / case.name)
        print(f"{case.name}: {', '.join(case.files)}")
