"""The guard that fails a test when printfarm's own code uses something deprecated.

Two kinds of report count, on every leg:

- a Python DeprecationWarning (or PendingDeprecationWarning) attributed to a module of
  custom_components/printfarm: the library or the integration called a deprecated API;
- a log record of Home Assistant's frame and deprecation helpers naming printfarm: "Detected
  that custom integration 'printfarm' ..." (`report_usage`) and "The deprecated ... was used
  from printfarm" (`deprecated_function`, deprecated constants and classes). Home Assistant
  only logs these for custom integrations, and logs each place once per test.

Deprecations raised for other code (Home Assistant's, a dependency's, the tests') are not
printfarm's to fix and pass through as before.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from types import TracebackType
from typing import Self, TextIO

PACKAGE = Path(__file__).resolve().parents[1] / "custom_components" / "printfarm"
DOMAIN = "printfarm"
_HOME_ASSISTANT_REPORT = re.compile(
    rf"^(Detected that custom integration '{DOMAIN}' |The deprecated .+ was .+ from {DOMAIN}\.)"
)


def _is_ours(filename: str) -> bool:
    """Return whether a file is part of the printfarm package."""
    return Path(filename).resolve().is_relative_to(PACKAGE)


class _Handler(logging.Handler):
    def __init__(self, found: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self._found = found

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if _HOME_ASSISTANT_REPORT.match(message):
            self._found.append(f"{record.name}: {message}")


class DeprecationGuard:
    """Collect, while active, the deprecations printfarm's code runs into.

    A deprecation warning of printfarm's is taken in `found` instead of being shown (the test
    fails on it with its message); every other warning is handed on as before, to pytest's
    warning summary and filters.
    """

    def __init__(self) -> None:
        """Start with nothing found."""
        self.found: list[str] = []
        self._handler = _Handler(self.found)
        self._previous = warnings.showwarning

    def _showwarning(  # noqa: PLR0917 (warnings.showwarning's signature)
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, DeprecationWarning | PendingDeprecationWarning) and _is_ours(
            filename
        ):
            self.found.append(f"{category.__name__} at {filename}:{lineno}: {message}")
            return
        self._previous(message, category, filename, lineno, file, line)

    def __enter__(self) -> Self:
        """Start listening to warnings and to the root logger."""
        self._previous = warnings.showwarning
        warnings.showwarning = self._showwarning
        logging.getLogger().addHandler(self._handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop listening."""
        logging.getLogger().removeHandler(self._handler)
        warnings.showwarning = self._previous
