"""The OpenAPI 3.1 document of farmsim's AutoPrintFarm API v1."""

from .document import build_openapi

__all__ = ["build_openapi"]
