"""The five layers a blob travels in, each read from bytes alone: container, pickle, protobuf, DFPY frame,
cloudpickle, Arrow IPC. Nothing here renders text, judges a report or runs datafusion.
"""
