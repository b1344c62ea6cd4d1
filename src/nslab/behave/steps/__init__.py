"""Every nslab step. Importing this module registers them with behave:

# steps/nslab_steps.py
from nslab.behave.steps import *  # noqa: F403
"""

from nslab.behave.steps import build, docker, inspect, manager, ping, port, reach, shell  # noqa: F401  (registers the steps)
