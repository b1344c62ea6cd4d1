"""How nslab names a feature and a scenario it was not given in JUnit XML (see
nslab.report.junit for why), without junitparser: every behave run's JUnit reporter and
page need these names, and importing junitparser (with lxml) cost every behave start
~17 ms (python -X importtime, on a loaded machine).
"""

from __future__ import annotations

import os
from pathlib import Path

FEATURES = "features"  # behave's conventional folder, and nslab's
NOT_SELECTED = "not selected: this run was given other scenarios of the feature"


def feature_name(feature: Path, base_dir: Path) -> str:
    """The dotted name of a feature file: its path below `base_dir/features/` if it is
    there, else below `base_dir` (the folder behave found steps/ in), without `.feature`."""
    path = Path(os.path.abspath(feature))
    base = Path(os.path.abspath(base_dir))
    for root in (base / FEATURES, base):
        if path.is_relative_to(root):
            rel = path.relative_to(root)
            break
    else:  # outside the project: the path as given, which is all there is
        rel = Path(*[p for p in path.parts if p != path.anchor])
    return rel.with_suffix("").as_posix().replace("/", ".")
