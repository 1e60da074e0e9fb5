"""A real RTSP server for the tests: Debian's GStreamer RTSP server, run with /usr/bin/python3
(python3-gi does not load in a venv). Serves a live 30 fps H.264 test pattern with a key frame
every second at rtsp://127.0.0.1:PORT/live and, with `--file PATH`, an H.264 MP4 file at
rtsp://127.0.0.1:PORT/file (its bitstream as it is, played in real time from the start for each
client). With `--auth`, clients must log in as `viewer` / `letmein` (basic authentication).

    /usr/bin/python3 tests/support/rtsp_server.py PORT [--auth] [--file PATH]
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

LIVE = (
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


FILE = "( filesrc location={} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"


def token_for(role: str) -> "GstRtspServer.RTSPToken":
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
    return token


def factory_for(roles: tuple, launch: str = LIVE) -> "GstRtspServer.RTSPMediaFactory":
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    # Each client gets its own pipeline (and a file plays from its start): shared media crashed
    # GStreamer (a gst_rtsp_media_get_rates assertion) when several clients set up at once.
    factory.set_shared(False)
    if not roles:
        return factory
    permissions = GstRtspServer.RTSPPermissions()
    for role in roles:
        permissions.add_role(role)
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(permissions)
    return factory


def main() -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[1])
    args = sys.argv[2:]
    require_login = "--auth" in args
    roles = ("viewer",) if require_login else ()
    server.get_mount_points().add_factory("/live", factory_for(roles))
    if "--file" in args:
        path = args[args.index("--file") + 1]
        server.get_mount_points().add_factory(
            "/file", factory_for(roles, FILE.format('"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'))
        )
    if require_login:
        auth = GstRtspServer.RTSPAuth()
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic("viewer", "letmein"), token_for("viewer"))
        server.set_auth(auth)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
