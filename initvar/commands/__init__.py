"""One module per subcommand, each with ``run(args) -> int`` (its parser lives in :mod:`initvar.cli`)."""
