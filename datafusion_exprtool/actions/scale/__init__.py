"""``eval --workers N`` and ``--engine ray``: one replay split over worker processes or Ray actors, with the
result a one-process replay gives.

``options`` (what the caller asked for), ``plan`` (how the input is split: by files or row groups, a hash
shuffle on the grouping keys, or one worker), ``worker`` (what every worker does, whatever starts it),
``local`` (spawned processes) and ``ray_engine`` (Ray core actors) run it, ``driver`` merges the results in
order into eval's sinks.
"""
