"""The command-line layer (Typer + rich). Thin: every command wraps one library call."""
