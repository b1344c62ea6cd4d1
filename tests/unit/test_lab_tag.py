"""`@lab:NAME` names a lab file (labs/NAME.toml), not the lab's name: a tag written with the
lab's name is told which file holds that lab (nslab.behave.hooks; pure: no world runs)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT

from nslab.behave.hooks import _tagged_lab
from nslab.errors import NslabError


def scenario_in(feature: Path, tag: str) -> SimpleNamespace:  # only what the hook reads
    return SimpleNamespace(tags=[tag], rule=None, feature=SimpleNamespace(tags=[], filename=str(feature)))


def test_a_tag_with_the_labs_name_is_told_the_file_that_holds_it(tmp_path: Path) -> None:
    (tmp_path / "labs").mkdir()
    (tmp_path / "features").mkdir()
    shutil.copyfile(ROOT / "labs" / "three-ns.toml", tmp_path / "labs" / "lab.toml")  # lab "three"
    feature = tmp_path / "features" / "x.feature"
    assert _tagged_lab(scenario_in(feature, "lab:lab")) == tmp_path / "labs" / "lab.toml"
    with pytest.raises(NslabError) as err:
        _tagged_lab(scenario_in(feature, "lab:three"))
    assert "no labs/three.toml beside the feature or above it" in str(err.value)
    assert "holds lab 'three', tag it @lab:lab" in str(err.value)
    with pytest.raises(NslabError, match="add the lab file there"):
        _tagged_lab(scenario_in(feature, "lab:nowhere"))
