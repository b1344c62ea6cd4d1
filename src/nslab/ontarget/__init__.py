"""Programs that run ON the target machine, not in nslab's own process: the agent that
runs commands for a target, and netprobe (listeners and connection probes in a world).
Standard library only and nothing from nslab: they are uploaded as they are to ssh and
vagrant targets."""
