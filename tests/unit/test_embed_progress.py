"""Embedding progress: silent by default and for short runs, plain lines with ETA off a TTY."""

from __future__ import annotations

import io

from avp_harness.embed.progress import Progress, _Silent, eta_text, progress, reporting


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_with_eta_after_a_few_seconds():
    clock, out = Clock(), io.StringIO()
    bar = Progress(1000, "embedding", stream=out, after=3.0, clock=clock, tty=False)
    clock.now = 1.0
    bar.advance(100)
    assert out.getvalue() == ""  # short so far: nothing
    clock.now = 5.0
    bar.advance(100)  # 200 done in 5 s: 40/s, 800 left: 20 s
    assert out.getvalue() == "embedding: 200/1000 (20%), 40/s, ETA 0m20s\n"
    clock.now = 6.0
    bar.advance(100)  # within 10 s of the last line: no new line
    assert out.getvalue().count("\n") == 1
    clock.now = 25.0
    bar.advance(700)
    assert out.getvalue().splitlines()[-1].startswith("embedding: 1000/1000 (100%)")
    bar.close()


def test_a_short_embedding_prints_nothing():
    clock, out = Clock(), io.StringIO()
    bar = Progress(10, "x", stream=out, after=3.0, clock=clock, tty=False)
    clock.now = 0.5
    bar.advance(10)
    bar.close()
    assert out.getvalue() == ""


def test_rich_bar_on_a_terminal():
    clock, out = Clock(), io.StringIO()
    bar = Progress(100, "embedding 100 texts", stream=out, after=0.0, clock=clock, tty=True)
    clock.now = 2.0
    bar.advance(50)
    bar.close()
    assert "embedding 100 texts" in out.getvalue() and "50/100" in out.getvalue()


def test_silent_unless_a_front_end_asks():
    assert isinstance(progress(10, "x"), _Silent)
    with reporting():
        assert isinstance(progress(10, "x"), Progress)
    assert isinstance(progress(10, "x"), _Silent)
    assert eta_text(3725) == "1h02m05s" and eta_text(59.6) == "1m00s"
