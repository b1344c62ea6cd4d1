"""A lab's reachability: its flows derived from the lab, measured by `nslab explore`, kept
as golden files, compared by `nslab diff`, and where a DNAT'd probe landed."""
