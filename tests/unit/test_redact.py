"""`vigil.redact`: every credential shape of issue 26 (item 7), masked in a URL alone and in free
text (FFmpeg errors, log lines, readiness reasons), and nothing else touched; a configuration's
secrets at any depth, a sink's own secrets, and a log record's exception text and extras."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from vigil.redact import RedactSecrets, log_record_extras, mask_config, mask_text, mask_url, redactor, secret_parameter

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


def test_mask_config_hides_secret_keys_at_any_depth_and_the_urls_in_every_string():
    config = {
        "model": {"path": "/models/yolo", "confidence": 0.25},
        "sources": [
            {"name": "gate", "url": "rtsp://admin:CamPw-1@10.0.0.5/live", "password_file": "/etc/vigil/cam.pw"},
            {"name": "yard", "url": "rtsp://10.0.0.6/live?token=CamTok-2&channel=1"},
        ],
        "sinks": [
            {"kind": "mqtt", "url": "mqtts://broker:8883", "username": "vigil", "password": "MqPw-3"},
            {"kind": "webhook", "url": "https://HookKey-4@hooks.example/in", "headers": {"Authorization": "Bearer Hdr-5"}},
            {"kind": "nats", "token": "NatsTok-6", "nested": [{"api_key": "Deep-7"}, {"client_secret": "Deep-8"}]},
        ],
        "retries": 3,
        "enabled": True,
        "nothing": None,
    }
    shown = mask_config(config)
    text = repr(shown)
    assert not [s for s in ("CamPw-1", "CamTok-2", "MqPw-3", "HookKey-4", "Hdr-5", "NatsTok-6", "Deep-7", "Deep-8") if s in text]
    assert shown["sources"][0] == {"name": "gate", "url": "rtsp://admin:***@10.0.0.5/live", "password_file": "/etc/vigil/cam.pw"}
    assert shown["sources"][1]["url"] == "rtsp://10.0.0.6/live?token=***&channel=1"
    assert shown["sinks"][0] == {"kind": "mqtt", "url": "mqtts://broker:8883", "username": "vigil", "password": "***"}
    assert shown["sinks"][2]["nested"] == [{"api_key": "***"}, {"client_secret": "***"}]
    assert (shown["model"], shown["retries"], shown["enabled"], shown["nothing"]) == (config["model"], 3, True, None)
    assert config["sinks"][0]["password"] == "MqPw-3"  # the configuration itself is left as it was


def test_mask_config_masks_a_list_of_secrets_under_a_secret_key_item_by_item():
    assert mask_config({"tokens": ["a", "b"], "token": ["SecretA", "SecretB"]}) == {"tokens": ["a", "b"], "token": ["***", "***"]}


def test_a_redactor_hides_its_secrets_longest_first_and_nothing_else():
    redact = redactor(["user", "user:pass", "", "dXNlcjpwYXNz"])
    assert redact("401 for user:pass (Basic dXNlcjpwYXNz) as user") == "401 for *** (Basic ***) as ***"
    assert redact("nothing secret here") == "nothing secret here"
    assert redactor([])("user:pass") == "user:pass"


def test_the_log_filter_masks_a_url_userinfo_in_an_exception_text_and_extras():
    RedactSecrets.add("FileSecret-9")
    try:
        try:
            raise ConnectionError("cannot reach https://hook:ExcPw-10@hooks.example/in?sig=ExcSig-11 with FileSecret-9")
        except ConnectionError:
            record = logging.LogRecord("vigil.t", logging.ERROR, __file__, 1, "sink %s failed", ("hook",), sys.exc_info())
        record.target = "nats://u:ExtraPw-12@h:4222"
        assert RedactSecrets().filter(record)
        shown = logging.Formatter("%(message)s %(target)s").format(record)
    finally:
        RedactSecrets.discard("FileSecret-9")
    assert not [s for s in ("ExcPw-10", "ExcSig-11", "FileSecret-9", "ExtraPw-12") if s in shown], shown
    assert "https://hook:***@hooks.example/in?sig=***" in shown and "nats://u:***@h:4222" in shown
    assert "ConnectionError" in shown and shown.startswith("sink hook failed")
    assert log_record_extras(record) == {"target": "nats://u:***@h:4222"}


def test_the_webhook_shows_its_url_without_userinfo_and_with_its_query_masked():
    from yarl import URL

    from vigil.sinks._http import display_url

    assert (
        display_url(URL("https://user:HookPw-13@hooks.example:8443/in?token=HookTok-14#frag"))
        == "https://hooks.example:8443/in?***"
    )
    assert display_url(URL("https://hooks.example/in")) == "https://hooks.example/in"
