"""Programs that run ON the target machine, not in nslab's own process: the agent that
runs commands for a target (agent.py), netprobe (listeners and connection probes in a
world: the program netprobe.py, with its server netprobe_server.py and its parts
netprobe_netns.py and netprobe_probes.py beside it),
and the world's holder (holder.sh). Standard library only and nothing from nslab: they
are uploaded as they are to ssh and vagrant targets (nslab.machine.targets.bundle)."""
