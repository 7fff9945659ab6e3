"""check: the failures a receiver would meet decoding a blob, predicted as ordered passes that yield
model.Finding.
"""
