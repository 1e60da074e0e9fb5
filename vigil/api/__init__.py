"""The management API and the web console: the aiohttp app (`app.make_app`) over a `Control`
(`control.DaemonControl` is the running daemon's), its typed answers (`models`, from which
`openapi` generates the OpenAPI document), the rules every request passes (`guard`, `auth`,
`sessions`, `input`), the streams and zones it may change (`media`, `state`, `config`), the server
that holds it behind a connection cap (`server`) and the console's pages and live view
(`console/`). Events come from a `vigil.store.Store`; the process around it is `vigil.daemon`."""
