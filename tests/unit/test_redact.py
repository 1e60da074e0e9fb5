"""`vigil.redact`: every credential shape of issue 26 (item 7), masked in a URL alone and in free
text (FFmpeg errors, log lines, readiness reasons), and nothing else touched."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vigil.redact import mask_text, mask_url, secret_parameter

# (text, the secrets in it that must never be shown, what must still be shown)
SHAPES = [
    ("rtsp://:pw-only-1@cam.local/live", ["pw-only-1"], "rtsp://:***@cam.local/live"),
    ("rtsp://admin:pa ss-2@cam.local/live", ["pa ss-2", "ss-2"], "rtsp://admin:***@cam.local/live"),
    ("rtsp://admin:pa%20ss-3@cam.local/live", ["pa%20ss-3", "ss-3"], "rtsp://admin:***@cam.local/live"),
    ("https://APIKEY-4@hooks.example/in", ["APIKEY-4"], "https://***@hooks.example/in"),
    ("rtsp://admin:p@ss@w-5@10.0.0.5:554 failed", ["p@ss@w-5", "ss@w-5"], "rtsp://admin:***@10.0.0.5:554 failed"),
    (
        "https://h/x?token=tk-6&api_key=ak-6&access_token=at-6&auth=au-6&key=k-6&password=pw-6&sig=sg-6"
        "&signature=sn-6&Api_Key=AK-6&x=keep",
        ["tk-6", "ak-6", "at-6", "au-6", "k-6", "pw-6", "sg-6", "sn-6", "AK-6"],
        "&x=keep",
    ),
    ("https://s3/b/o?X-Amz-Credential=cr-7&X-Amz-Signature=sg-7&X-Amz-Date=20260101", ["cr-7", "sg-7"], "X-Amz-Date=20260101"),
    ("https://h/cb#access_token=frag-8&state=keep", ["frag-8"], "state=keep"),
    ("nats://u:nats-9@h1:4222,nats://v:nats-10@h2:4222", ["nats-9", "nats-10"], "nats://v:***@h2:4222"),
    ("mqtts://user:mq-11@broker:8883", ["mq-11"], "mqtts://user:***@broker:8883"),
]


@pytest.mark.parametrize(("url", "secrets", "shown"), SHAPES)
@pytest.mark.parametrize(
    "wrap",
    [
        "{}",
        "source 'cam': cannot open {} (Connection refused); retrying in 2.0s",
        "[Errno 111] Connection refused: '{}'",
        'error: "{}"\nnext line',
        "reasons: [no source is streaming: cam reconnecting ({}; retrying)]",
    ],
)
def test_every_credential_shape_is_masked_alone_and_in_text(url, secrets, shown, wrap):
    text = wrap.format(url)
    for masked in (mask_text(text), mask_url(text)):
        assert not [s for s in secrets if s in masked], masked
        assert shown in masked


@pytest.mark.parametrize(
    "text",
    [
        "rtsp://10.0.0.5/s1",
        "rtsp://cam.local:554/live?channel=1&subtype=0",
        "https://hooks.example/in?event=zone_enter#top",
        "no URL here, key: value-less",
        "source 'cam': stream ended or stalled",
    ],
)
def test_what_holds_no_credential_is_left_alone(text):
    assert mask_text(text) == text


@pytest.mark.parametrize(
    "name",
    [
        "token",
        "API_KEY",
        "access_token",
        "auth",
        "key",
        "password",
        "sig",
        "signature",
        "X-Amz-Credential",
        "client_secret",
        "pwd",
        "passwd",
    ],
)
def test_credential_parameter_names(name):
    assert secret_parameter(name)


def test_logging_and_masking_import_no_pyav():
    code = "import sys, vigil.redact, vigil.daemon.logs; print('av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
