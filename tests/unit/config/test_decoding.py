"""`sources[].decoder` (`vigil.config.decoding`): auto by default, the known names only, and the
schema's enum."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vigil.config import SourceConfig
from vigil.config.decoding import DECODER_NAMES
from vigil.config.sources import FileSourceConfig, RtspSourceConfig, WebcamSourceConfig


@pytest.mark.parametrize("url", ["a.mp4", "rtsp://cam.lan/stream1", "v4l2:/dev/video0"])
def test_every_source_kind_decodes_with_auto_unless_told(url):
    assert SourceConfig(name="a", url=url).decoder == "auto"
    for name in DECODER_NAMES:
        assert SourceConfig(name="a", url=url, decoder=name).decoder == name


@pytest.mark.parametrize("value", ["vlc", "PyAV", "", "nvv4l2decoder"])
def test_an_unknown_decoder_is_refused_with_the_names(value):
    with pytest.raises(ValidationError) as refused:
        SourceConfig(name="a", url="a.mp4", decoder=value)
    [error] = refused.value.errors()
    assert error["loc"] == ("decoder",)
    assert error["msg"] == f"decoder '{value}' is unknown; choose one of: auto, pyav, gstreamer"


def test_a_decoder_that_is_not_a_name_is_refused():
    with pytest.raises(ValidationError, match="Input should be 'auto', 'pyav' or 'gstreamer'"):
        SourceConfig(name="a", url="a.mp4", decoder=5)


@pytest.mark.parametrize("kind", [FileSourceConfig, RtspSourceConfig, WebcamSourceConfig])
def test_the_schema_lists_the_names(kind):
    field = kind.model_json_schema()["properties"]["decoder"]
    assert field["enum"] == list(DECODER_NAMES) and field["default"] == "auto"
