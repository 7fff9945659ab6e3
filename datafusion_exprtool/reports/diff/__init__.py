"""diff: two blobs compared as expression and plan trees, functions and safety."""
