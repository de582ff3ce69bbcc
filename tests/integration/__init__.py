"""Tests for the printfarm Home Assistant integration."""
