"""The harness itself: without Debian's chromium or its driver the browser tests fail (never skip),
saying how to install them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import conftest


@pytest.mark.parametrize("missing", ["CHROMIUM", "CHROMEDRIVER"])
def test_a_missing_browser_or_driver_fails_naming_the_install_script(
    missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, missing, tmp_path / "absent")
    with pytest.raises(pytest.fail.Exception, match="bash packaging/install-services.sh") as failed:
        conftest.make_driver()
    assert str(tmp_path / "absent") in str(failed.value)
