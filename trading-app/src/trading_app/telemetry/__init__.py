"""The trading app's telemetry: one ``Publisher`` protocol, two delivery modes.

- ``protocol.py``: the ``Publisher`` protocol and the ``Published`` result.
- ``stats.py``: the typed counters both modes report (``PublisherStats``).
- ``endpoints.py``: address parsing, sharding by symbol, stamping (shared).
- ``messages.py``: the trade/tick/heartbeat messages (the wire schema's shapes).
- ``frames.py``: JSON-array frames for a backlog.
- ``push.py`` + ``push_sender.py``: fire-and-forget over PUSH, off the caller's path;
  ``timer_slack.py``: the sender thread's own timer slack (Linux; a no-op elsewhere).
- ``reliable/``: the lossless mode over DEALER with a SQLite outbox.
- ``factory.py``: ``make_publisher()``, the mode ``WEBAPP_DELIVERY`` asks for.

This module imports nothing, so any submodule can be imported on its own.
"""
