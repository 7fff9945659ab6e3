"""Every command's help: a usage example, and prose paragraphs that rich can wrap to the terminal (a source
line break left inside a paragraph shows as a ragged break at 80 columns)."""

from __future__ import annotations

from datafusion_exprtool.cli.main import app


def test_every_command_has_an_example_and_reflowed_prose() -> None:
    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback is not None}
    assert {"inspect", "eval", "check", "explain", "diff", "reencode", "encode"} <= names
    for command in app.registered_commands:
        text = command.help or ""
        shown = text + (command.epilog or "")  # some commands keep their examples in the epilog
        assert "exprtool " in shown and "Example" in shown, command.callback
        for para in text.split("\n\n"):
            if not para.startswith((" ", "\t")):
                assert "\n" not in para, (command.callback, para)

