"""The probe bitstreams `auto` decodes with each hardware decoder it finds (`_hardware`): two
320x240 frames (an IDR frame and a P frame, gradients, 4:2:0 8-bit, Main profile) of H.264 and of
H.265 in Annex B byte-stream form, their encoder's SEI (its settings text) removed. Made once
with PyAV (libx264 `profile=main, bf=0, g=2, threads=1`; libx265 `bframes=0, keyint=2, info=0`),
and large enough for NVDEC's smallest H.265 picture (144x144). Decoded only when asked."""

from __future__ import annotations

import base64

__all__ = ["probe_stream"]

_H264 = (
    "AAAAAWdNQA3ZAUH6EAAAAwAQAAADAyDxQqSAAAAAAWjrw8sgAAABZYiEX/4CKkFOwMHi8GvrFcrj5NrzK25YnP/K0OXoB8I2Vu5SxDmumpJIY9"
    "1Q7+2sU7UREyay99orQMTXEpIoHA+BATcM/Q/XiaKvCoCxaf1m/eZq+bXP4fpeiHiNc4joiPJ1BV7VtALPVc1iqRdEzfJvsOEc9KqvVDUbE7/O"
    "qhnXXFi4VxSOrTTszmTlQHSKA8tBhcT2wsmF+N9whVEDN8xJNt+/SYh1Lt1Vz9mMeQORV8GzbNp0Vd1jO6kxv0tc9XdLSil2n6ilx5xBbnuImT"
    "jUQn1SLCcKim7g7ROwy8GUX4+7AdSa6rK/GFivZqOT26nUj9j0BF7zGon9vkHdyI9/hrEgpXbwhHZaYsHoGx7gOxYWzS2CRr2t/gwHBrMh/4T9"
    "X7cooQTyC4+pvnHhCL8VobsSZqGEF2oNc6t9HViEy7eBhi+PvYJBw7nb2sK8LUjBcQO1+E2jcsKNhpHM3ucxl8SqKU/YL52zajMu79Bc0Ptkxm"
    "vlscb9l+fltshNX/5HpLvMCPuxAvmD7pz80vPPs2bvfK5aEHnKRo0UPJEnmc0xrhli/GgHxjgWsNH08cLIUvZEJWtbJtZ7SRtuPngQ8xqKvd3t"
    "wQAAAAFBmjsSf55VDcEXypGwBJAryHQ+/BlpFhVMzdQwhRgwIAMZrC4F/DqY5g9cka+ALtSqSDVMS9Ztu+8n5V7ubNi4uLyx2JH61omfl6tCXp"
    "xJM0u5wCOddgJHKynnUOitm/ECh4YTAywRHrqEu4O9s9WYWcFBszXBwhurz9g6743YQyx17JVmDckCKLLrBREUF1mgLy+xlT3w9eUy+FdYj4zw"
    "kZD43s439++pdDTRuBVh+jTTnVvsXfoyFw+3kA=="
)
_HEVC = (
    "AAAAAUABDAH//wFgAAADAJAAAAMAAAMAPJKAkAAAAAFCAQEBYAAAAwCQAAADAAADADygCggPFlkqSTK5oCAAAAMAIAAAAwMhAAAAAUQBwXK0Ik"
    "AAAAEoAa8dgPfR1sx4DBV+WFxBmmWdzbur1dwXaVNaRzdOutVKEVmAkGflRBhUxsYcI0E98v2LQmSRrHKPb44Dnk88my236BGp/cTk44Udi3JW"
    "mUw86QBfHEYK7HwmPjIjyuzfdHcr1bUOHu5Psfg5kCblkL3DUFd2bgvjPWRQn0WbMfBBxWiKlo9yZn6RokEY0yJKD/3HJLFVROmAkUtCB7nAeP"
    "i26bwrqg6JktrBtU76U1mVBtp7LGH+/qqDaJtyKrSGs5Enm4ukWtqZljp9TgfSvamGPLcgY/rPWHtPUCNCijcEx2o9kizcIZ8QulJ6CQGezcp+"
    "FWoDb/KW1ZMAPaiG6JDTZwSXgYWAa8q34/T+qSXZ3BRciAPArQCFxNpSayJDmEi1bsKg7bUrRSo7dHOM66Jw8HDMIIVDD+ELdiOf4hFcgJ7yYL"
    "Rw1TBkey1MFlhzIEhVFHDPfyl97MUej4MgYcJJ0nMno7afS0k3y2z3q3zxESIERZc8ohxEhnjKonFGwm+C+wTDqRlhJIe9Qi5oiit8TavCTNwl"
    "VlAsOQtaGD6ujTrU/NrHEkg/AKw3PLAcoOLi6YWNBzxmDb4dWQY7xgTF1DBAIpL1k6i4tTfAqMAAAAABAgHQCX4Qxjvt7qNTR3st68VHVNGnj/"
    "FCs3XuhbMxSROTJPrWfLYDIG4pgeTxKeSSMo0d4Xg0wDGa+A=="
)


def probe_stream(codec: str) -> bytes:
    """The probe of `codec` ("h264" or "hevc", FFmpeg's names)."""
    return base64.b64decode({"h264": _H264, "hevc": _HEVC}[codec])
