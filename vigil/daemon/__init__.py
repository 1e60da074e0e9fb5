"""The process around a pipeline: the long-running service (`service.Daemon`), its metrics,
readiness, systemd protocol, logging, and the assembly of a pipeline from the configuration
(`assemble`). The management API and console are `vigil.api`, the event store `vigil.store`;
the command line is `vigil.cli`; the runtime is `vigil.pipeline`."""
