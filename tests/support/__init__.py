"""Test helpers, not API and not shipped: what nslab's own suite and benches use (a
throwaway OpenSSH server on loopback, the VM lane, /proc checks that nothing outlived a
world). The tests import it as `support` (pytest puts tests/ on the path); the benches put
tests/ on their path themselves."""
