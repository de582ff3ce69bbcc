"""Tests for farmsim."""
