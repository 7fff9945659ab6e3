"""The cloudpickle layer: a Python UDF's stream read without loading it, and what the receiver's unpickler
would refuse.
"""
