"""Test helpers, not API: what nslab's own suite and benches use (a throwaway OpenSSH server
on loopback, the VM lane, /proc checks that nothing outlived a world). Shipped so that the
benches run from an installed nslab; nothing in nslab itself imports them."""
