"""Progress bars: drawn when asked for, and not even created when nobody sees them."""

from __future__ import annotations

import pytest

from rasteret.progress import ProgressBar


def test_a_bar_is_drawn_when_progress_is_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RASTERET_PROGRESS", "1")
    with ProgressBar("demo: reading", unit="tile", total=4) as bar:
        bar.update(3)
        bar.set_total(5)
    err = capsys.readouterr().err
    assert "demo: reading" in err and "3/5" in err


def test_no_tqdm_object_when_progress_is_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RASTERET_PROGRESS", "0")
    with ProgressBar("demo: reading", unit="tile", total=4) as bar:
        bar.update(3)
        bar.set_total(5)
        assert bar._bar is None
    assert capsys.readouterr().err == ""
