"""The one rule for each unit vecdash writes (vecdash/units.py): the console, the CLI and service
messages all show a size, a count or a duration this way. No database needed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from vecdash.units import ago, human_bytes, human_count, ms, seconds


@pytest.mark.parametrize("n, text", [
    (None, "?"), (0, "0 B"), (512, "512 B"), (1023, "1023 B"), (1024, "1.0 kB"), (1536, "1.5 kB"),
    (10 * 1024, "10 kB"), (12_345, "12 kB"), (200 * 2**20, "200 MB"), (int(6.7 * 2**20), "6.7 MB"),
    (1023 * 2**20, "1023 MB"), (3 * 2**30, "3.0 GB"), (5000 * 2**40, "5000 TB"),
])
def test_human_bytes_keeps_about_three_significant_digits(n, text):
    assert human_bytes(n) == text


def test_human_bytes_without_the_space_is_a_postgres_memory_setting():
    assert human_bytes(77 * 2**20).replace(" ", "") == "77MB"


@pytest.mark.parametrize("n, text", [
    (None, "?"), (0, "0"), (999, "999"), (1_234, "1,234"), (9_999, "9,999"), (10_000, "10k"), (12_345, "12k"),
    (999_499, "999k"), (1_000_000, "1.0M"), (1_234_567, "1.2M"),
])
def test_human_count_is_exact_below_ten_thousand(n, text):
    assert human_count(n) == text


@pytest.mark.parametrize("value, text", [(None, "?"), (0.04, "0.0 ms"), (4.21, "4.2 ms"), (99.9, "99.9 ms"),
                                         (100, "100 ms"), (230.4, "230 ms")])
def test_ms_has_one_decimal_below_100(value, text):
    assert ms(value) == text


def test_ago_counts_from_the_snapshot_time():
    now = datetime(2024, 1, 1, 12, 0, 0)
    assert ago(None, now) == "never"
    assert ago(now - timedelta(seconds=30), now) == "30 s ago"
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now - timedelta(hours=3), now) == "3 h ago"
    assert ago(now - timedelta(days=4), now) == "4 d ago"
    assert ago(now + timedelta(seconds=5), now) == "0 s ago"  # a clock a little ahead is not negative


def test_each_word_of_the_vocabulary_is_defined_once():
    """A second definition of a unit, an error-line rule or the spinner delay is how they drifted apart."""
    import re
    from pathlib import Path

    homes = {r"def human_bytes\(": "units.py", r"def human_count\(": "units.py", r"def ms\(": "units.py",
             r"def ago\(": "units.py", r"def first_line\(": "lines.py", r"def error_line\(": "lines.py",
             r"def one_line\(": "lines.py", r"^SPINNER_AFTER_S\s*=": "tui/busy.py"}
    root = Path(__file__).resolve().parent.parent / "vecdash"
    for pattern, home in homes.items():
        found = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.py"))
                 if re.search(pattern, p.read_text(encoding="utf-8"), re.M)]
        assert found == [home], (pattern, found)


@pytest.mark.parametrize("value,text", [
    (None, "?"), (0.04, "0.0 s"), (4.25, "4.2 s"), (42, "42 s"), (300, "5 min"), (3.5 * 3600, "3.5 h"),
    (2 * 86400, "2 d"), (-1, "0.0 s"),
])
def test_seconds_reads_a_duration_like_an_age(value, text):
    assert seconds(value) == text
