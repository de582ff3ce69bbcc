"""Tests for the printfarm client library."""
