from nslab.behave.hooks import after_all, after_scenario, before_all, before_scenario  # noqa: F401
