"""capture(): a blob with the environment fingerprint that produced it, and the pytest plugin that keeps them
when a test fails.
"""
