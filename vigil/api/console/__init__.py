"""The web console: pages served by the management API at `/` (`pages.py`, the files in
`static/`: vanilla JS and CSS, no build step, nothing from a CDN) and the cameras' live view
(`live.py`: the last annotated frame of each camera as MJPEG, encoded only while someone
watches). The daemon builds both (`vigil.daemon.service`); the API routes they call are in
`vigil.api.app`, their auth in `vigil.api.auth`."""
