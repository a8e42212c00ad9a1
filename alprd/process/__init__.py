"""Generic process machinery, knowing nothing about cameras or models: a supervisor of child
process specs (supervisor.py), the base every child runs before its body (child.py: channel,
process title, logging to the parent, torch threads), sd_notify (sdnotify.py) and logging set-up
(logs.py). The daemon's duties live in alprd.service; the messages in alprd.messages."""
