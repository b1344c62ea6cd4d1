"""The lab model and its files: `load_lab(path)` reads a lab file in either notation
(networks and hosts, or the seed's one bridge) into one `Lab`; `default_lab()` is the
seed story's. The model is `nslab.lab.model`, each table's parser `nslab.lab.tables`
(`nslab.lab.hosts` for networks and hosts), the checks they share `nslab.lab.checks`."""

from nslab.lab.files import SEED_LAB, bundled_labs, default_lab, load_lab
from nslab.lab.model import (
    Host,
    HostFirewall,
    Interface,
    Lab,
    Network,
    Route,
    RulesetFile,
    Upstream,
)

__all__ = [
    "SEED_LAB",
    "Host",
    "HostFirewall",
    "Interface",
    "Lab",
    "Network",
    "Route",
    "RulesetFile",
    "Upstream",
    "bundled_labs",
    "default_lab",
    "load_lab",
]
