"""The dangerous families: what a global's spelling says it reaches, whatever the grammar allows.

``layers/pickle/safety.py`` asks ``denied`` of every global a stream names and of every call target outside
the grammar: a name (or any dotted prefix of it) in a family, or ending in a word that runs or loads code, is
``suspicious`` wherever it appears, even as a mere argument. Kept apart from the rules that read a stream: the
tables grow with every reported bypass, the rules should not.
"""

from __future__ import annotations

#: why a module is denied even when only imported: its import runs a program
RUNS_ON_IMPORT = "runs a program on import"
#: call targets whose use means "this blob tries to do something": a dotted name or any dotted prefix of it
DENY: dict[str, str] = {
    **dict.fromkeys(("os", "posix", "nt", "_posixsubprocess", "subprocess", "pty", "signal", "spawn"),
                    "runs commands"),
    **dict.fromkeys(("importlib", "runpy", "imp", "pkgutil", "zipimport"), "imports code"),
    **dict.fromkeys(("pickle", "_pickle", "dill", "joblib", "shelve", "copyreg._inverted_registry",
                     "copyreg.add_extension"), "nested unpickler"),
    **dict.fromkeys(("cloudpickle.loads", "cloudpickle.load", "cloudpickle.cloudpickle.loads",
                     "cloudpickle.cloudpickle.load", "cloudpickle.cloudpickle.Unpickler"), "nested unpickler"),
    "marshal": "loads code objects",
    **dict.fromkeys(("pandas.read_pickle", "pandas.io.pickle", "torch.load", "numpy.load", "yaml.load",
                     "yaml.unsafe_load"), "nested unpickler"),
    **dict.fromkeys(("ctypes", "_ctypes", "cffi", "mmap"), "raw memory access"),
    **dict.fromkeys(("socket", "_socket", "ssl", "http.client", "urllib", "ftplib", "smtplib", "telnetlib"),
                    "network"),
    **dict.fromkeys(("shutil", "tempfile", "glob", "io.open", "_io.open", "builtins.open", "pathlib.Path",
                     "codecs.open", "codecs.EncodedFile"), "file system"),
    **dict.fromkeys(("sys", "gc", "inspect", "code", "codeop", "pdb", "bdb", "timeit", "trace", "webbrowser",
                     "multiprocessing", "threading", "_thread", "asyncio", "concurrent"), "interpreter control"),
    **dict.fromkeys(tuple(f"builtins.{n}" for n in ("exec", "eval", "compile", "__import__", "breakpoint",
                                                     "input", "setattr", "delattr", "globals", "locals", "vars",
                                                     "help", "exit", "quit")), "runs or reaches code"),
    # run source text (cProfile.runctx, doctest.run_docstring_examples), import by a string (pydoc.locate), or
    # build objects named in a config (logging.config)
    **dict.fromkeys(("cProfile", "profile", "doctest", "pydoc", "logging.config"), "runs or reaches code"),
    # importing them runs a program (a browser, a GUI, a package's command line): ``x.__main__`` is said below
    **dict.fromkeys(("this", "antigravity", "__hello__", "__phello__", "idlelib", "turtledemo"), RUNS_ON_IMPORT),
}  # fmt: skip
#: final names that run or load code wherever they are reached (``posixpath.os.system``, ``x.spawnvp``)
DENY_WORDS = frozenset(
    """
    system popen exec execv execve execl execle execlp execlpe execvp execvpe spawnl spawnle spawnlp spawnlpe
    spawnv spawnve spawnvp spawnvpe posix_spawn posix_spawnp fork forkpty startfile eval compile __import__
    import_module loads load Unpickler check_output check_call call run Popen getoutput getstatusoutput
    call_tracing runcode runsource run_path run_module kill killpg
    """.split()
)
#: ordinary names that end in one of those words
_SAFE_WORDS = frozenset({"json.loads", "json.load", "_json.loads"})


def norm(dotted: str) -> str:
    """``__builtin__.x`` (what protocols 0-2 write) as ``builtins.x``."""
    return "builtins" + dotted[len("__builtin__") :] if dotted.startswith("__builtin__.") else dotted


def denied(dotted: str) -> str | None:
    """Why a dotted name is dangerous (its last word, or the first matching prefix), or None."""
    dotted = norm(dotted)
    parts = dotted.split(".")
    if len(parts) > 1 and parts[-1] in DENY_WORDS and dotted not in _SAFE_WORDS:
        return "nested unpickler" if parts[-1] in ("loads", "load", "Unpickler") else "runs or loads code"
    for i in range(1, len(parts) + 1):
        why = DENY.get(".".join(parts[:i]))
        if why is not None:
            return why
    if "__main__" in parts[1:]:  # ``pkg.__main__``: importing it runs the package's command line
        return RUNS_ON_IMPORT
    return None


