"""Every test process pseudonymises with a test key unless a test says otherwise (docs/reliability.md:
outside `kpi sample-data` landing folders, runs refuse to start without KPI_PSEUDONYM_KEY)."""

import os

os.environ.setdefault("KPI_PSEUDONYM_KEY", "funnel-kpi test suite key, not a secret")
