"""Every binary of the project, one module per console script and named after it (see ``nli_app.cli.BINARIES``)."""
