"""`auto`'s search for a hardware decoder (`vigil.sources.decode._hardware.find`), with GStreamer's
element list and the probe FAKED (no hardware decoder can run here): the documented order, an
element that exists but fails its probe falls through to the next, no GStreamer -> PyAV, and the
reason in plain words. `choose("auto")` is then tested with a faked answer of `hardware()`."""

from __future__ import annotations

import pytest

from vigil.sources.decode import _hardware, auto, choose
from vigil.sources.decode._hardware import Hardware, Unavailable, find
from vigil.sources.decode.pyav import PyAVDecoder

ALL = "nvv4l2decoder, nvh264dec, nvh265dec, vah264dec, vah265dec"


class FakeProbe:
    """GStreamer faked: the elements its registry has, the (element, codec) probes that fail
    (with why), and every probe asked, in order."""

    def __init__(self, elements: set[str], failing: dict[tuple[str, str], str] | None = None) -> None:
        self.elements, self.failing = elements, failing or {}
        self.asked: list[tuple[str, str]] = []

    def has(self, element: str) -> bool:
        return element in self.elements

    def decodes(self, element: str, codec: str) -> str | None:
        assert element in self.elements, "a probe of an element that is not there"
        self.asked.append((element, codec))
        return self.failing.get((element, codec))


@pytest.mark.parametrize(
    "elements, chosen, reason",
    [
        (
            {"nvv4l2decoder", "nvh264dec", "nvh265dec", "vah264dec", "vah265dec"},
            {"h264": "nvv4l2decoder", "hevc": "nvv4l2decoder"},
            "nvv4l2decoder found and decoded the H.264 and H.265 probes",
        ),
        (
            {"nvh264dec", "nvh265dec", "vah264dec", "vah265dec"},
            {"h264": "nvh264dec", "hevc": "nvh265dec"},
            "nvh264dec found and decoded the H.264 probe; nvh265dec found and decoded the H.265 probe",
        ),
        (
            {"vah264dec", "vah265dec"},
            {"h264": "vah264dec", "hevc": "vah265dec"},
            "vah264dec found and decoded the H.264 probe; vah265dec found and decoded the H.265 probe",
        ),
        (
            {"nvh264dec", "vah265dec"},
            {"h264": "nvh264dec", "hevc": "vah265dec"},
            "nvh264dec found and decoded the H.264 probe; vah265dec found and decoded the H.265 probe",
        ),
        (
            {"vah264dec"},
            {"h264": "vah264dec"},
            "vah264dec found and decoded the H.264 probe; no working hardware H.265 decoder (looked for "
            "nvv4l2decoder, nvh265dec, vah265dec): GStreamer's own choice for H.265",
        ),
    ],
    ids=["jetson-first-of-all", "desktop-nvidia-before-va", "va-api", "mixed", "h264-only"],
)
def test_fake_elements_are_chosen_in_the_documented_order(elements, chosen, reason):
    probe = FakeProbe(elements)
    found = find(lambda: probe)
    assert dict(found.elements) == chosen
    assert found.reason == reason
    # Each codec's probe stops at the first element that decodes it.
    assert probe.asked == [(element, codec) for codec, element in chosen.items()]


def test_fake_element_failing_its_probe_falls_through_to_the_next():
    probe = FakeProbe(
        {"nvv4l2decoder", "nvh264dec", "vah264dec", "vah265dec"},
        failing={("nvv4l2decoder", "h264"): "could not start", ("nvh264dec", "h264"): "error: no CUDA device"},
    )
    found = find(lambda: probe)
    assert dict(found.elements) == {"h264": "vah264dec", "hevc": "nvv4l2decoder"}
    assert probe.asked == [
        ("nvv4l2decoder", "h264"),
        ("nvh264dec", "h264"),
        ("vah264dec", "h264"),
        ("nvv4l2decoder", "hevc"),
    ]
    assert found.reason == (
        "vah264dec found and decoded the H.264 probe; nvv4l2decoder found and decoded the H.265 probe; "
        "nvv4l2decoder found but failed the H.264 probe (could not start); "
        "nvh264dec found but failed the H.264 probe (error: no CUDA device)"
    )


def test_fake_elements_that_all_fail_their_probes_give_nothing_and_say_why():
    failing = {("vah264dec", "h264"): "could not start", ("vah265dec", "hevc"): "it returned no picture"}
    found = find(lambda: FakeProbe({"vah264dec", "vah265dec"}, failing))
    assert dict(found.elements) == {}
    assert found.reason == (
        "vah264dec found but failed the H.264 probe (could not start); vah265dec found but failed the H.265 "
        "probe (it returned no picture); no other hardware decoder element (looked for nvv4l2decoder, nvh264dec, nvh265dec)"
    )


def test_fake_registry_without_any_hardware_element_names_what_it_looked_for():
    probe = FakeProbe({"avdec_h264", "avdec_h265"})
    found = find(lambda: probe)
    assert dict(found.elements) == {} and probe.asked == []
    assert found.reason == f"no hardware decoder element (looked for {ALL})"


def test_fake_gstreamer_absent_gives_its_reason():
    def absent() -> FakeProbe:
        raise Unavailable("PyGObject is not installed")

    assert find(absent) == Hardware({}, "PyGObject is not installed")


@pytest.fixture
def fake_hardware(monkeypatch):
    """`hardware()` answering what a test sets; how many times it was asked."""
    asked: list[int] = []
    answer: list[Hardware] = [Hardware({}, "nothing")]

    def hardware() -> Hardware:
        asked.append(1)
        return answer[0]

    monkeypatch.setattr(auto, "hardware", hardware)
    return answer, asked


class RecordingGStreamer:
    """Stands in for `GStreamerDecoder` (its module imports PyGObject): keeps its elements."""

    name = "gstreamer"

    def __init__(self, elements=None) -> None:
        self.elements = elements

    def open(self, spec):
        raise AssertionError("not opened in these tests")


def test_fake_hardware_found_makes_auto_choose_gstreamer_with_its_elements(fake_hardware, monkeypatch):
    answer, _ = fake_hardware
    answer[0] = Hardware({"h264": "nvv4l2decoder", "hevc": "nvv4l2decoder"}, "nvv4l2decoder found and decoded ...")
    monkeypatch.setitem(auto.DECODERS, "gstreamer", f"{__name__}:RecordingGStreamer")
    choice = choose("auto")
    assert choice.name == "gstreamer" and choice.reason == "auto: nvv4l2decoder found and decoded ..."
    assert isinstance(choice.decoder, RecordingGStreamer)
    assert choice.decoder.elements == {"h264": "nvv4l2decoder", "hevc": "nvv4l2decoder"}


def test_fake_hardware_found_but_the_gstreamer_decoder_missing_gives_pyav_and_says_so(fake_hardware, monkeypatch):
    answer, _ = fake_hardware
    answer[0] = Hardware({"h264": "vah264dec"}, "vah264dec found and decoded the H.264 probe")
    monkeypatch.setitem(auto.DECODERS, "gstreamer", "vigil.sources.decode.no_such_module:GStreamerDecoder")
    choice = choose("auto")
    assert isinstance(choice.decoder, PyAVDecoder) and choice.name == "pyav"
    assert choice.reason.startswith(
        "auto: vah264dec found and decoded the H.264 probe, but the GStreamer decoder cannot be loaded ("
    )
    assert choice.reason.endswith("); PyAV")


def test_fake_no_hardware_gives_pyav_with_the_reason(fake_hardware):
    answer, _ = fake_hardware
    answer[0] = Hardware({}, f"no hardware decoder element (looked for {ALL})")
    choice = choose("auto")
    assert isinstance(choice.decoder, PyAVDecoder)
    assert choice.reason == f"auto: no hardware decoder element (looked for {ALL}); PyAV"


def test_fake_hardware_is_not_asked_for_a_capture_device_or_a_named_decoder(fake_hardware):
    _, asked = fake_hardware
    choice = choose("auto", input_kind="device")
    assert choice.name == "pyav" and choice.reason == "auto: a capture device is read through FFmpeg; PyAV"
    assert choose("pyav").reason == "asked for by name"
    assert asked == []


def test_fake_search_runs_once_per_process(monkeypatch):
    calls: list[int] = []

    def counting_find(open_probe) -> Hardware:
        calls.append(1)
        return Hardware({}, "nothing here")

    monkeypatch.setattr(_hardware, "find", counting_find)
    monkeypatch.setattr(_hardware, "_found", None)
    assert _hardware.hardware() is _hardware.hardware()
    auto.probe_hardware()
    assert calls == [1]


def test_fake_element_that_hangs_is_not_probed_again_for_its_other_codec():
    probe = FakeProbe({"nvv4l2decoder", "vah265dec"}, failing={("nvv4l2decoder", "h264"): "no answer within 5 s"})
    found = find(lambda: probe)
    assert probe.asked == [("nvv4l2decoder", "h264"), ("vah265dec", "hevc")]
    assert dict(found.elements) == {"hevc": "vah265dec"}
    assert found.reason == (
        "vah265dec found and decoded the H.265 probe; nvv4l2decoder found but failed the H.264 probe (no answer within 5 s); "
        "no working hardware H.264 decoder (looked for nvv4l2decoder, nvh264dec, vah264dec): GStreamer's own choice for H.264"
    )
