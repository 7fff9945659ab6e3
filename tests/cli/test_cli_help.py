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



def test_version_names_every_package_a_report_needs() -> None:
    """`exprtool --version` prints exprtool, datafusion, pyarrow, cloudpickle and Python, from the installed
    metadata (a fresh interpreter shows it imports neither datafusion nor pyarrow), and exits 0."""
    import platform
    import subprocess
    import sys
    from importlib.metadata import version

    code = (
        "import sys\nfrom datafusion_exprtool.cli.main import main\nsys.argv = ['exprtool', '--version']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    status = exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'datafusion', 'pyarrow', 'cloudpickle'})\n"
        "print('exit', status, 'imported', heavy)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines == [
        f"exprtool {version('datafusion-exprtool')}",
        f"datafusion {version('datafusion')}",
        f"pyarrow {version('pyarrow')}",
        f"cloudpickle {version('cloudpickle')}",
        f"Python {platform.python_version()} ({platform.python_implementation()})",
        "exit 0 imported []",
    ], run.stdout
