"""datafusion's Display text rebuilt from the bytes: canonical expression names, plan outlines, tree views; one
rendering engine.
"""
