"""The machine a lab runs on: where commands run (targets), a disposable world per scenario,
the provision stages that build a lab in it, the persistent lab of `nslab up`, and the
checks of what the machine can do (`nslab doctor`). Above the lab model and the firewall
kinds; below the probes."""
