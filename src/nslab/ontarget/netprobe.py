"""The world's netprobe helper, as a program: `python3 -I -S netprobe.py`, in a world's root
network namespace; its server (listeners, probes, the JSON lines it reads and writes) is
netprobe_server.py beside it, with its parts netprobe_netns.py and netprobe_probes.py.

Only this launcher is the program: python compiles a program's own file at every start and
caches the bytecode only of what it imports, and the server compiled anew cost every
helper's start ~3 ms of CPU (python 3.11, -I -S, least of 25 starts: 21.2 -> 18.2 ms).
"""

from __future__ import annotations

import os
import sys

if __package__:  # imported as part of nslab
    from nslab.ontarget.netprobe_server import Server
else:  # run as a program (on the target): -I leaves this file's directory off sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from netprobe_server import Server  # type: ignore[import-not-found,no-redef]

if __name__ == "__main__":
    Server().run()
