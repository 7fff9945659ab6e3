"""Turn decoded messages into text: canonical expression names, tree views, plan outlines."""
