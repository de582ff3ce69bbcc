"""Tests of the benchmark (`scripts/bench`): its figures, and a short smoke run of it.

The smoke run benchmarks a real Home Assistant with printfarm against 3 simulated printers
for 8 seconds (about 35 seconds in all), so the benchmark keeps working as the integration
changes; the full benchmark is not part of the test suite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools import bench
from devtools.bench import BenchOptions, run_benchmark
from devtools.bench_markdown import render_markdown, rss_slope, targets
from devtools.bench_probe import PublishRecorder, number, percentile, staleness, summary
from devtools.bench_report import parse_interval


def test_percentiles_and_summary() -> None:
    """Test nearest-rank percentiles and the summary's scaling."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) is None
    assert summary([0.001, 0.003], 1000) == {
        "count": 2,
        "mean": 2.0,
        "p50": 1.0,
        "p95": 3.0,
        "p99": 3.0,
        "max": 3.0,
    }
    assert summary([])["mean"] is None
    assert number("12.5") == 12.5
    assert number("unavailable") is None
    assert number("nan") is None


def test_staleness_of_layer_changes() -> None:
    """Test a change is seen by the first later observation showing it, or a later layer."""
    changes = {10: 100.0, 11: 105.0, 12: 110.0, 13: 200.0}
    seen = [(99.0, 9.0), (100.5, 10.0), (112.0, 12.0)]
    found, missed = staleness("P1S-01", changes, seen, start=100.0, end=150.0)
    assert [(c.layer, round(c.age, 1)) for c in found] == [(10, 0.5), (11, 7.0), (12, 2.0)]
    assert missed == 0
    found, missed = staleness("P1S-01", changes, seen, start=0.0, end=300.0)
    assert missed == 1  # layer 13 was never shown


def test_publish_recorder_times_reports_by_when_they_left_farmsim() -> None:
    """Test a value's time is when paho wrote the first report carrying it, else its publish."""
    recorder = PublishRecorder()
    report = {"print": {"command": "push_status", "sequence_id": "7", "layer_num": 3}}
    recorder.on_publish("X1C-01", "SERIAL1", 10.0, report)
    later = {"print": {"command": "push_status", "sequence_id": "8", "layer_num": 3}}
    recorder.on_publish("X1C-01", "SERIAL1", 11.0, later)
    assert recorder.source_time("X1C-01", "current_layer", 3.0) == 10.0
    recorder.on_sent("device/SERIAL1/report", b'{"print":{"sequence_id":"7"}}', 10.002)
    recorder.on_sent("device/SERIAL1/request", b'{"print":{"sequence_id":"8"}}', 10.5)
    assert recorder.source_time("X1C-01", "current_layer", 3.0) == 10.002
    assert recorder.source_time("X1C-01", "current_layer", 4.0) is None
    assert recorder.queue_delays(9.0, 12.0) == [pytest.approx(0.002)]


def test_interval_and_slope() -> None:
    """Test the coordinator's interval is read from its diagnostics text, and the RSS slope."""
    assert parse_interval("0:06:00") == 360.0
    assert parse_interval("0:11:54.081721") == pytest.approx(714.081721)
    assert parse_interval("1 day, 0:00:30") == 86430.0
    assert parse_interval("soon") is None
    runs = [
        {"printers": 0, "memory": {"rss_mib": 100.0}},
        {"printers": 100, "memory": {"rss_mib": 200.0}},
    ]
    assert rss_slope(runs) == 1024.0
    assert rss_slope(runs[:1]) is None


def test_command_line() -> None:
    """Test the options the command line gives, and bad sizes refused."""
    options = bench.options_from_args(["--sizes", "10,100", "--seconds", "30", "--no-baseline"])
    assert options.sizes == (10, 100)
    assert options.seconds == 30.0
    assert options.runs() == (10, 100)
    assert BenchOptions().runs() == (0, 10, 100, 200)
    with pytest.raises(SystemExit):
        bench.options_from_args(["--sizes", "ten"])


@pytest.mark.timeout(90)
async def test_smoke_benchmark(tmp_path: Path) -> None:
    """Test a short run against 3 printers gives a complete, sane report."""
    options = BenchOptions(
        sizes=(3,),
        baseline=False,
        seconds=8.0,
        quiet_seconds=3.0,
        warmup=2.0,
        poll_interval=4.0,
        output=tmp_path / "bench.json",
        state_dir=tmp_path / "state",
    )
    report = await run_benchmark(options)
    written = json.loads((tmp_path / "bench.json").read_text())
    assert written.keys() == {"generated", "machine", "options", "runs"}
    assert written["runs"][0]["printers"] == 3
    assert written["machine"]["cpus"] >= 1
    (run,) = report["runs"]
    assert run["errors"] == []
    assert run["printers"] == 3
    # Every printer reports about once a second, and Home Assistant wrote what changed
    assert 1.5 <= run["messages"]["per_second"] <= 6.0
    latency: dict[str, Any] = run["latency_ms"]
    assert latency["count"] > 0
    assert latency["unmatched"] == 0
    assert 0 < latency["min"] <= latency["p50"] <= latency["p99"] < 1000
    # A loaded machine may leave the short window with no CPU tick or write to count.
    assert run["cpu"]["ms_per_message"] >= 0
    assert run["state_writes"]["per_message"] >= 0
    assert run["state_writes"]["unchanged_entities"] == 0
    assert run["memory"]["rss_mib"] > run["memory"]["onboarded_rss_mib"] > 0
    assert 0 < run["setup"]["reload_loaded_s"] < 30
    assert 0 < run["setup"]["all_states_s"] < 30
    assert run["setup"]["printers_with_state"] == 3
    # The integration plans within half the free tier and was never refused
    api = run["api"]
    assert api["rate_limited_429"] == 0
    assert api["planned_per_hour"] <= 50
    assert api["refresh_interval_s"] >= 30
    # The poller polled at 0, 4 and 8 s, one page each; push is fresher than polling
    polling = run["polling"]
    assert (polling["polls"], polling["requests"], polling["rate_limited_429"]) == (3, 3, 0)
    push = run["push_staleness_s"]
    assert push["count"] == 0 or 0 < push["mean"] < 2.0
    assert run["hass_gc"]["logged"]
    text = render_markdown(report)
    assert "| 3 |" in text
    assert any(check["target"].startswith("no 429") and check["met"] for check in targets([run]))
