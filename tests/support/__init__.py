"""Helpers the tests share (tests/ is on sys.path through conftest.py, so ``from support.x import …`` works
from every directory under tests/):

- blobs: protobuf by hand, UDFs and the blobs built from them, pickle gadgets, ``raised``
- cli: the exprtool command line in-process (``run_cli``)
- decoding: datafusion's own decoding as ground truth (in-process and in a child process)
- exprs: datafusion expressions the proto and check tests encode
- repo: the repository's root, fixtures/ (and its generator) and tools/ scripts
- text: reading an expression's bytes back as a proto tree and rendering it
- external_corpus: tests/corpus/ (blobs apache/datafusion-python's tests built) and exprtool scored on it
- safety_corpus, pickle_asm, canary, user_jobs: the safety corpus and the throwaway processes that load it
"""
