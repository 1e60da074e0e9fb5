"""The process around a pipeline: the long-running service (`service.Daemon`), its management
API, metrics, readiness, systemd protocol, logging, and the assembly of a pipeline from the
configuration (`assemble`). The command line is `vigil.cli`; the runtime is `vigil.pipeline`."""
