"""The pickle layer: a static pickle machine, its symbolic values, the Expr payloads of an outer pickle, and
which call targets a stream may name.
"""
