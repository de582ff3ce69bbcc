"""Tests for printfarm and farmsim."""
