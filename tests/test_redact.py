"""No form of a stream password or token survives ``rainstream.log.redact`` (issue 17 item 2)."""
from __future__ import annotations

import pytest

from rainstream.errors import RainstreamError
from rainstream.io.live_connection import read_credentials, resolve_target, with_credentials
from rainstream.log import redact

# (text, secret that must not appear, what must remain visible)
SHAPES = [
    ("rtsp://cam:Secret9@10.0.0.5/stream", "Secret9", "rtsp://cam:***@10.0.0.5/stream"),
    ("rtsp://cam:P@Secret9@host/x", "Secret9", "rtsp://cam:***@host/x"),
    ("rtsp://cam:P@ss@Secret9@host:554/x", "Secret9", "@host:554/x"),
    ("rtsp://cam:pa/Secret9@host/x", "Secret9", "rtsp://cam:***@host/x"),
    ("rtsp://cam:pa?Secret9@host/x", "Secret9", "@host/x"),
    ("rtsp://cam:pa#Secret9@host/x", "Secret9", "@host/x"),
    ("rtsp://:Secret9@h/x", "Secret9", "rtsp://:***@h/x"),
    ("rtsp://Secret9@h/x", "Secret9", "rtsp://***@h/x"),
    ("RTSP://Cam:Secret9@H/x", "Secret9", "RTSP://Cam:***@H/x"),
    ("rtmp://u:Secret9@h/live/key", "Secret9", "rtmp://u:***@h/live/key"),
    ("https://h/live.m3u8?password=Secret9", "Secret9", "?password=***"),
    ("https://h/live.m3u8?a=1&PWD=Secret9&b=2", "Secret9", "&b=2"),
    ("rtsp://h/x?user=cam&passwd=Secret9", "Secret9", "user=cam&passwd=***"),
    ("https://h/s?token=Secret9", "Secret9", "token=***"),
    ("https://h/s?access_token=Secret9#frag", "Secret9", "#frag"),
    ("https://h/s?api_key=Secret9", "Secret9", "api_key=***"),
    ("https://h/s?X-Amz-Signature=Secret9&X-Amz-Date=1", "Secret9", "X-Amz-Date=1"),
    ("https://h/s?auth=Secret9", "Secret9", "auth=***"),
    ("srt://h:9000?passphrase=Secret9", "Secret9", "passphrase=***"),
    ("https://h/s?secret=Secret9;x=1", "Secret9", "x=1"),
    ("error: cannot open 'rtsp://cam:Sec'ret9@h/x': I/O error", "ret9", "@h/x'"),
    ("a rtsp://a:Secret9@h/x and rtsp://b:Other77@h/y", "Other77", "rtsp://b:***@h/y"),
    ("rtsp://cam:Sec ret9@h/x", "Sec", "rtsp://cam:"),
]


@pytest.mark.parametrize("text,secret,kept", SHAPES, ids=[s[0][:40] for s in SHAPES])
def test_redact_hides_every_url_form(text, secret, kept):
    out = redact(text)
    assert secret not in out, out
    assert kept in out, out


def test_redact_leaves_plain_text_and_plain_urls_alone():
    for text in ("rtsp://10.0.0.5:554/stream", "/data/clip.mp4", "https://h/s?keyframe_only=1x&q=2"[:20],
                 "25 frames in 2.2 s"):
        assert redact(text) == text


def test_url_whose_password_holds_a_slash_is_refused_at_once():
    with pytest.raises(RainstreamError) as err:
        resolve_target("rtsp://cam:pa/Zq9xSecret@127.0.0.1:1/x")
    assert "Zq9xSecret" not in str(err.value) and "%2F" in str(err.value) and "`credentials`" in str(err.value)


def test_registered_secret_is_hidden_outside_urls_too():
    resolve_target("rtsp://cam:Kx7Registered@10.0.0.5/x")
    assert redact("auth failed for password Kx7Registered") == "auth failed for password ***"
    resolve_target("rtsp://cam:Kx7 spaced@10.0.0.5/x")  # one shell argument, with a space
    assert "spaced" not in redact("cannot open rtsp://cam:Kx7 spaced@10.0.0.5/x")
    assert redact("rtsp://[::1]/x rtsp://[::1]:554/x") == "rtsp://[::1]/x rtsp://[::1]:554/x"


def test_credentials_from_file_and_environment(tmp_path, monkeypatch):
    creds = tmp_path / "cam.txt"
    creds.write_text("cam:P@ss/w?rd#1\n")
    url = with_credentials("rtsp://10.0.0.5/stream", str(creds))
    assert url == "rtsp://cam:P%40ss%2Fw%3Frd%231@10.0.0.5/stream"
    assert "w?rd" not in redact(url) and "%2Fw%3Frd" not in redact(url)
    monkeypatch.setenv("RAINSTREAM_CREDENTIALS", "env:EnvSecret5")
    assert with_credentials("rtsp://h/x") == "rtsp://env:EnvSecret5@h/x"
    assert with_credentials("rtsp://u:own@h/x") == "rtsp://u:own@h/x"  # the URL's own win over the env
    with pytest.raises(RainstreamError, match="keep one"):
        with_credentials("rtsp://u:own@h/x", str(creds))
    creds.write_text("no colon here\n")
    with pytest.raises(RainstreamError, match="user:password"):
        read_credentials(str(creds))
    with pytest.raises(RainstreamError, match="cannot read the credentials file"):
        read_credentials(str(tmp_path / "missing.txt"))
