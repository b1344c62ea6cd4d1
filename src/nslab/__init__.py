"""nslab: prove a Linux firewall, bridge or NAT setup works, with Gherkin scenarios over
real network namespaces, each scenario in a disposable world."""

__version__ = "0.1.0"
