"""A camera's inputs with roles (`sources[].inputs`, Frigate's shape).

    - name: door
      inputs:
        - {url: "rtsp://viewer@10.0.0.5/sub", roles: [detect], password_file: /etc/vigil/door.pw}
        - {url: "rtsp://viewer@10.0.0.5/main", roles: [record], password_file: /etc/vigil/door.pw}
      clips: {directory: /var/lib/vigil/clips}

The input with `detect` is decoded and goes through the frame gates, the batcher and the model,
as a camera's `url:` does; the input with `record` is only demuxed, its packets feed the event
clips. Exactly one input detects, at most one records; one input with both roles is the same as
`url:`. Each input's URL is checked and masked like a camera's `url:` (its password in the URL or
in its own `password_file`). Validators only validate: nothing connects here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from vigil.config._section import Section
from vigil.config.urls import kind_of_url, url_problem

__all__ = [
    "MAX_INPUTS",
    "InputConfig",
    "Role",
    "check_inputs",
    "detect_input",
    "input_files",
    "input_url",
    "record_input",
    "url_of",
]

Role = Literal["detect", "record"]
MAX_INPUTS = 4  # bounds the work on a hostile list; the roles allow two that differ


class InputConfig(Section):
    """One stream of a camera and what it is used for."""

    url: str = Field(min_length=1, description="The stream's rtsp:// or rtsps:// URL (its password is masked everywhere).")
    roles: list[Role] = Field(
        min_length=1,
        max_length=2,
        description="detect: decoded for the model (a substream is enough); record: only demuxed, its packets "
        "feed the event clips (the main stream, never decoded).",
    )
    password_file: str | None = Field(
        None, min_length=1, description="File holding this stream's password, put into the URL's user part."
    )

    @field_validator("url")
    @classmethod
    def _a_camera_url(cls, url: str) -> str:
        if kind_of_url(url) != "rtsp":
            raise _refused("an input's url starts with rtsp:// or rtsps:// (inputs: are a camera's streams)")
        problem = url_problem(url)
        if problem:
            raise _refused(problem)  # never the URL itself: it may hold a password
        return url

    @field_validator("roles")
    @classmethod
    def _each_role_once(cls, roles: list[Role]) -> list[Role]:
        if len(set(roles)) != len(roles):
            raise _refused(f"role '{roles[0]}' is listed twice; give roles: [detect], [record] or [detect, record]")
        return roles

    @model_validator(mode="after")
    def _user_for_password(self) -> InputConfig:
        if self.password_file is not None and not urlsplit(self.url).username:
            raise _at(("password_file",), "password_file needs the user in this input's URL: write rtsp://USER@host/...")
        return self


class _Source(Protocol):
    """What these checks read of a source's config (a `vigil.config.sources.SourceConfig`)."""

    @property
    def url(self) -> str | None: ...

    @property
    def clips(self) -> Any: ...


def check_inputs(config: _Source) -> None:
    """What must hold between a source's `url`, `inputs`, `password_file` and `clips` (raises a
    `ValidationError` located at the key to fix)."""
    inputs: Sequence[InputConfig] | None = getattr(config, "inputs", None)
    if inputs is None:
        if config.url is None:
            also = " or inputs: [{url, roles: [detect]}, {url, roles: [record]}]" if hasattr(config, "inputs") else ""
            raise _at(("url",), f"this source has no url; give url: ...{also}")
        return
    if config.url is not None:
        raise _at(("inputs",), "give url: or inputs:, not both (each input has its own url)")
    if getattr(config, "password_file", None) is not None:
        raise _at(
            ("password_file",), "with inputs:, give password_file on each input whose URL needs it (inputs.N.password_file)"
        )
    _check_roles(inputs)
    for index, item in enumerate(inputs):
        for earlier in range(index):
            if inputs[earlier].url == item.url:
                raise _at(
                    ("inputs", index, "url"),
                    f"inputs.{earlier} has the same url; give one input with roles: [detect, record] instead",
                )
    recorder = record_input(inputs)
    if recorder is not None and "detect" not in recorder[1].roles and config.clips is None:
        raise _at(
            ("inputs", recorder[0], "roles"),
            "a record input feeds the event clips, and this camera has no clips: add clips: {directory: ...} "
            "or drop the record input",
        )


def _check_roles(inputs: Sequence[InputConfig]) -> None:
    for role, what in (("detect", "is decoded for the model"), ("record", "feeds the event clips")):
        holders = [i for i, item in enumerate(inputs) if role in item.roles]
        if len(holders) > 1:
            raise _at(
                ("inputs", holders[1], "roles"),
                f"inputs.{holders[0]} has the {role} role already; one input {what}: give this one the other role",
            )
        if role == "detect" and not holders:
            raise _at(("inputs",), "no input has the detect role; give exactly one input roles: [detect] (often the substream)")


def detect_input(inputs: Sequence[InputConfig]) -> tuple[int, InputConfig]:
    """The input that detects, with its index (validation made sure there is one)."""
    return next((i, item) for i, item in enumerate(inputs) if "detect" in item.roles)


def record_input(inputs: Sequence[InputConfig]) -> tuple[int, InputConfig] | None:
    """The input that records, with its index, or None."""
    return next(((i, item) for i, item in enumerate(inputs) if "record" in item.roles), None)


def url_of(config: _Source) -> str:
    """The URL the source decodes: its `url`, or its detect input's (credentials not masked)."""
    inputs: Sequence[InputConfig] | None = getattr(config, "inputs", None)
    if config.url is None and inputs:
        return detect_input(inputs)[1].url
    return config.url or ""


def input_url(data: Any) -> object:
    """The URL of a raw `sources:` entry's first input (to infer its kind), else None."""
    inputs = data.get("inputs") if isinstance(data, dict) else None
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        return inputs[0].get("url")
    return None


def input_files(data: Any) -> list[str]:
    """The `*_file` keys of a raw `sources:` entry's inputs, as `inputs.N.KEY` (the API refuses
    them: it never reads a file a request names)."""
    inputs = data.get("inputs") if isinstance(data, dict) else None
    if not isinstance(inputs, list):
        return []
    return [
        f"inputs.{i}.{key}"
        for i, item in enumerate(inputs)
        if isinstance(item, dict)
        for key in item
        if str(key).endswith("_file")
    ]


def _refused(message: str) -> PydanticCustomError:
    """A field's error in our words (no "Value error, " before them)."""
    return PydanticCustomError("inputs", "{message}", {"message": message})


def _at(loc: tuple[str | int, ...], message: str) -> ValidationError:
    """An error at `loc` inside the source (the loader names its line), never repeating a value."""
    error = PydanticCustomError("inputs", "{message}", {"message": message})
    return ValidationError.from_exception_data("SourceConfig", [{"type": error, "loc": loc, "input": None}])
