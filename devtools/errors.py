"""The error the devtools harness raises."""


class HarnessError(Exception):
    """Raised when the demo cannot be brought up."""
