"""A real RTSP server for the tests: Debian's GStreamer RTSP server, run with /usr/bin/python3
(python3-gi does not load in a venv). Serves a live 30 fps H.264 test pattern with a key frame
every second at rtsp://127.0.0.1:PORT/live and, with `--file PATH`, an H.264 MP4 file at
rtsp://127.0.0.1:PORT/file (its bitstream as it is, played in real time from the start for each
client). With `--auth`, clients must log in as `viewer` / `letmein` (basic authentication).

`--mount NAME=PATH` (repeatable) serves the H.264 MP4 file PATH at rtsp://127.0.0.1:PORT/NAME,
looping forever like a camera: the file is demuxed once at start into memory and its access
units are pushed again and again through an appsrc, their timestamps continuing across the
loops (never re-encoded: appsrc ! h264parse ! rtph264pay), in real time for each client from
the start of the file. A camera can so be watched longer than its clip, and one process can
serve many cameras cheaply (bench/decode.py serves 32 this way).

    /usr/bin/python3 tests/support/rtsp_server.py PORT [--auth] [--file PATH] [--mount NAME=PATH ...]
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
LOOP = "( appsrc name=clip format=time ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"


def quoted(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


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


class Clip:
    """An MP4's H.264 access units in memory (demuxed once), with their caps and the loop's length."""

    def __init__(self, path: str) -> None:
        pipeline = Gst.parse_launch(f"filesrc location={quoted(path)} ! qtdemux ! appsink name=out sync=false")
        sink, bus = pipeline.get_by_name("out"), pipeline.get_bus()
        pipeline.set_state(Gst.State.PLAYING)
        self.units, self.caps, failed = [], None, None  # units: (bytes, pts, dts, delta unit)
        for _ in range(600):  # a minute at most
            sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
            if sample is not None:
                self.units.append(self._unit(sample, path))
                continue
            failed = bus.pop_filtered(Gst.MessageType.ERROR)
            if failed is not None or sink.get_property("eos"):
                break
        pipeline.set_state(Gst.State.NULL)
        if failed is not None or not self.units:
            reason = failed.parse_error()[0].message if failed is not None else "no video samples"
            raise SystemExit(f"rtsp_server: cannot serve {path}: {reason}")
        stamps = sorted(unit[1] for unit in self.units)
        # A constant frame rate: the loop lasts its frames' count times the frame step (the last
        # frame shown as long as the others), so the next loop's timestamps follow on evenly.
        self.frame_ns = (stamps[-1] - stamps[0]) // (len(stamps) - 1) if len(stamps) > 1 else Gst.SECOND // 25
        self.length_ns = self.frame_ns * len(stamps)

    def _unit(self, sample: "Gst.Sample", path: str) -> tuple:
        self.caps = self.caps or sample.get_caps()
        buffer = sample.get_buffer()
        ok, info = buffer.map(Gst.MapFlags.READ)
        if not ok:
            raise SystemExit(f"rtsp_server: cannot read {path}'s samples")
        data = GLib.Bytes.new(info.data)
        buffer.unmap(info)
        dts = buffer.dts if buffer.dts != Gst.CLOCK_TIME_NONE else buffer.pts
        return data, buffer.pts, dts, buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)

    def feed(self, appsrc: "Gst.Element") -> None:
        """Give `appsrc` the clip's access units in order, loop after loop, timestamps continuing."""
        appsrc.set_property("caps", self.caps)
        position = [0]

        def need_data(src: "Gst.Element", _length: int) -> None:
            n = position[0]
            loop, index = divmod(n, len(self.units))
            data, pts, dts, delta = self.units[index]
            buffer = Gst.Buffer.new_wrapped_bytes(data)  # shares the bytes, never copies them
            offset = loop * self.length_ns  # from the file's own first timestamps, as filesrc plays it
            buffer.pts, buffer.dts, buffer.duration = pts + offset, dts + offset, self.frame_ns
            if delta:
                buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
            position[0] = n + 1
            src.emit("push-buffer", buffer)

        appsrc.connect("need-data", need_data)


def loop_factory(roles: tuple, clip: Clip) -> "GstRtspServer.RTSPMediaFactory":
    factory = factory_for(roles, LOOP)
    factory.connect("media-configure", lambda _f, media: clip.feed(media.get_element().get_by_name("clip")))
    return factory


def mounts(args: list) -> list:
    """The (name, path) of each `--mount NAME=PATH`."""
    out = []
    for i, arg in enumerate(args):
        if arg == "--mount":
            name, sep, path = args[i + 1].partition("=") if i + 1 < len(args) else ("", "", "")
            if not sep or not name or not path:
                raise SystemExit("rtsp_server: write --mount NAME=PATH (e.g. --mount cam00=/clips/cam00.mp4)")
            out.append((name.strip("/"), path))
    return out


def main() -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[1])
    args = sys.argv[2:]
    require_login = "--auth" in args
    roles = ("viewer",) if require_login else ()
    points = server.get_mount_points()
    points.add_factory("/live", factory_for(roles))
    if "--file" in args:
        path = args[args.index("--file") + 1]
        points.add_factory("/file", factory_for(roles, FILE.format(quoted(path))))
    clips: dict = {}
    for name, path in mounts(args):
        clip = clips[path] = clips.get(path) or Clip(path)  # a file served on several mounts is read once
        points.add_factory("/" + name, loop_factory(roles, clip))
    if require_login:
        auth = GstRtspServer.RTSPAuth()
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic("viewer", "letmein"), token_for("viewer"))
        server.set_auth(auth)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
