"""The static five-layer pipeline: bytes in, the neutral model (model.Inspection) out, with the function
manifest and the safety verdict.
"""
