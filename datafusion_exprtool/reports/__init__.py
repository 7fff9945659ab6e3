"""Reports over inspections: check (predicted receiver failures), explain (a datafusion error text to its
cause), diff, and the machine formats.
"""
