"""A scenario's lab session: one target, one lab, a fresh world per scenario, and the seed
story's single commands. Knows nothing of behave."""
