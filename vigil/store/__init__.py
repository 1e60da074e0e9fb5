"""The event store: the last events the stages made, for `GET /api/v1/events` (`log.EventLog`),
and the events made searchable by text and likeness (`search.EventSearch`, a SQLite vector
store fed by a worker). The API and the daemon hold it."""
