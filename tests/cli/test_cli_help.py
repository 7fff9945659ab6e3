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


def test_a_command_alone_is_the_same_command() -> None:
    """``main()`` builds only the command it runs (``make_app(only)``): its help, and so its options and
    arguments, are the whole application's; under shell completion (which completes command names) and for
    root options it builds them all."""
    import os

    from datafusion_exprtool.cli.main import COMMAND_MODULES, invoked_command, make_app
    from typer.testing import CliRunner

    runner = CliRunner()
    for name in COMMAND_MODULES:
        alone = make_app(only=name)
        assert [c.callback.__name__ for c in alone.registered_commands if c.callback] == [
            c.callback.__name__ for c in app.registered_commands if c.callback and (c.name or c.callback.__name__.rstrip("_")) == name
        ]
        said = runner.invoke(alone, [name, "--help"], prog_name="exprtool", env={"COLUMNS": "100"})
        whole = runner.invoke(app, [name, "--help"], prog_name="exprtool", env={"COLUMNS": "100"})
        assert said.exit_code == whole.exit_code == 0
        assert said.output == whole.output and f"exprtool {name}" in said.output
    assert invoked_command(["exprtool", "inspect", "x"]) == "inspect"
    assert invoked_command(["exprtool", "--help"]) is None and invoked_command(["exprtool", "nope"]) is None
    os.environ["_EXPRTOOL_COMPLETE"] = "complete_bash"
    try:
        assert invoked_command(["exprtool", "inspect"]) is None
    finally:
        del os.environ["_EXPRTOOL_COMPLETE"]
