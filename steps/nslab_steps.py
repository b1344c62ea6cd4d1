from nslab.behave.steps import *  # noqa: F403  (nslab's step library, as any user's repository uses it)
