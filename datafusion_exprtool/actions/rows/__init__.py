"""``eval --find-rows``: narrow a failing replay to the fewest input rows that fail the same way.

``find.find_rows`` is the entry point; ``search`` the algorithm, ``probe`` and ``worker`` the two sides of a
probe, ``layout`` where rows live, ``signature`` what counts as the same failure, ``report`` the facts.
"""
