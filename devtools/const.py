"""Names and paths every part of the devtools harness shares."""

from __future__ import annotations

import logging
from pathlib import Path

LOGGER = logging.getLogger("devtools")

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "printfarm"
SERVICE_AUTOPRINTFARM = "autoprintfarm"
SERVICE_PRINTAGO = "printago"
SUBENTRY_PRINTER = "printer"
# The demo dashboard's address (configuration.yaml: lovelace: dashboards:)
DASHBOARD_URL = "print-farm"
