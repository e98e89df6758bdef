"""Progress bars: drawn when asked for, and not even created when nobody sees them."""

from __future__ import annotations

import pytest

from rasteret.progress import ProgressBar


@pytest.mark.parametrize("setting", ["1", "0"])
def test_a_bar_is_drawn_only_when_progress_is_on(
    setting: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RASTERET_PROGRESS", setting)
    with ProgressBar("demo: reading", unit="tile", total=4) as bar:
        bar.update(3)
        bar.set_total(5)
        created = bar._bar is not None
    err = capsys.readouterr().err
    if setting == "1":
        assert created and "demo: reading" in err and "3/5" in err
    else:
        assert not created and err == ""  # not even a tqdm object when nobody sees it
