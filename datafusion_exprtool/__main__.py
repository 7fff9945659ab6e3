from datafusion_exprtool.cli.main import main

main()
