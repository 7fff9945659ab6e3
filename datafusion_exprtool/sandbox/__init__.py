"""Worker processes: the worker context a real worker installs, fresh interpreters started like a Pool worker,
and what a crashed one leaves behind.
"""
