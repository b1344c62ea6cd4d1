"""Probes: a check's command run in a lab namespace, handed back as a typed result (checks),
TCP/UDP/ICMP probes with outcome classes (ports), the reachability matrix, nftables' trace
of which rule decided, and a step's places as addresses.

`from nslab import probe` then `probe.routes(...)` is what `nslab init` writes into users'
custom steps: the checks are re-exported here for it.
"""

from nslab.probe.checks import *  # noqa: F403
