"""`python -m datafusion_exprtool` runs the exprtool command line."""

from datafusion_exprtool.cli.main import main

if __name__ == "__main__":
    main()
