"""`nslab up`/`nslab down`'s lock (nslab.machine.persist.exclusive): one at a time, and no
lock file left once no lab is up (`nslab down` left an empty lab.lock behind)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nslab.errors import NslabError
from nslab.machine import persist

pytestmark = pytest.mark.unit


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NSLAB_STATE", str(tmp_path / "lab.json"))
    return tmp_path


def test_the_lock_goes_once_no_lab_is_up(state: Path) -> None:
    with persist.exclusive():
        assert (state / "lab.lock").exists()
        with (
            pytest.raises(NslabError, match="another `nslab up` or `nslab down` is running"),
            persist.exclusive(),
        ):
            pass
        assert (state / "lab.lock").exists()  # the refused one removed nothing
    assert list(state.iterdir()) == []


def test_the_lock_stays_while_a_lab_is_up(state: Path) -> None:
    with persist.exclusive():
        (state / "lab.json").write_text("{}")  # as `nslab up` saves its state
    assert (state / "lab.lock").exists()
    with persist.exclusive():
        persist.LabState.forget()  # as `nslab down` does
    assert list(state.iterdir()) == []


def test_a_lock_file_removed_under_its_taker_is_not_the_lock(state: Path) -> None:
    """A taker that opened the file just before its holder removed it holds an unlinked
    file: it must not count that as the lock, or it and a later taker would both run."""
    lock = state / "lab.lock"
    lock.write_text("")
    fd = os.open(lock, os.O_RDONLY)
    try:
        assert persist._same_file(fd, lock)
        lock.unlink()
        assert not persist._same_file(fd, lock)
        lock.write_text("")  # a new file at the path, made by the next taker
        assert not persist._same_file(fd, lock)
    finally:
        os.close(fd)
