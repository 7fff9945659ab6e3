"""eval: replay a blob against Parquet in a worker context, stage by stage, streaming into sinks, in a fresh
worker process.
"""
