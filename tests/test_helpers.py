"""tests/helpers.py's guard of optional libraries: a missing or broken install skips, with why."""

import pytest
from helpers import needs, optional_import


def test_an_optional_library_that_is_installed_is_returned():
    import json

    assert optional_import("json") is json


def test_a_missing_library_skips_and_names_its_extra():
    with pytest.raises(pytest.skip.Exception, match=r"^no_such_lib is not installed \(the `fid`"):
        optional_import("no_such_lib", extra="fid")
    with pytest.raises(pytest.skip.Exception, match=r"^no_such_lib\.sub is not installed$"):
        optional_import("no_such_lib.sub")


def test_a_broken_install_skips_with_its_error_instead_of_stopping_the_run(tmp_path, monkeypatch):
    # What a torchvision built for another torch does at import, and torch-fidelity imports it.
    (tmp_path / "broken_vision.py").write_text(
        'raise RuntimeError("operator torchvision::nms does not exist")\n'
    )
    (tmp_path / "uses_broken.py").write_text("import broken_vision\n")
    (tmp_path / "lacks_a_part.py").write_text("import no_such_part\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reason = "RuntimeError: operator torchvision::nms does not exist"
    with pytest.raises(
        pytest.skip.Exception, match=f"^uses_broken is installed but broken: {reason}"
    ):
        optional_import("uses_broken")
    # A module it imports is missing: broken, not absent (pytest.importorskip says neither).
    with pytest.raises(
        pytest.skip.Exception, match="^lacks_a_part is installed but broken: Module"
    ):
        optional_import("lacks_a_part")
    mark = needs("json", "broken_vision", extra="data")
    assert mark.args == (True,) and mark.kwargs["reason"].endswith(reason)
    assert needs("json").args == (False,)
