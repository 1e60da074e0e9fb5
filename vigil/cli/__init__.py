"""The `vigil` command (`vigil.cli.main:main`): the only code that exits the process. `main` parses
the flags and runs the daemon (`vigil.daemon`), a one-off pipeline, `check`, `demo` (`demo`) or
`models` (`models`)."""
