"""The event store: the last events the stages made, for `GET /api/v1/events` (`log.EventLog`),
and the events made searchable by text and likeness (`search.EventSearch`, a SQLite vector
store fed by a worker). The API and the daemon see it through the `Store` protocol (`base`)."""

from vigil.store.base import EventFile, EventQuery, FoundEvent, LoggedEvent, SearchQuery, Store, StoreFeed

__all__ = ["EventFile", "EventQuery", "FoundEvent", "LoggedEvent", "SearchQuery", "Store", "StoreFeed"]
