"""The send path (``media.aiortc_patch.send``): forwarded frames packetised as aiortc would."""

from __future__ import annotations

import aiortc
import aiortc.rtcrtpreceiver
import pytest

from media import AiortcIncompatibleError, aiortc_patch


def test_the_fast_send_path_packetises_vp8_as_aiortc_does() -> None:
    from aiortc.codecs.vpx import Vp8Encoder

    for size in (1, 100, 1295, 1296, 1297, 2592, 9000):
        frame = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert aiortc_patch.send._vp8_payloads(frame, 1234) == Vp8Encoder._packetize(frame, 1234)
        assert aiortc_patch.send._vp8_payloads(frame, 0x7FFF) == Vp8Encoder._packetize(
            frame, 0x7FFF
        )


def test_the_guard_names_what_an_upgrade_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aiortc_patch.send.check() == []
    monkeypatch.delattr(aiortc.RTCRtpSender, "_send_keyframe")
    problems = aiortc_patch.send.check()
    assert any("_send_keyframe" in problem for problem in problems), problems
    with pytest.raises(AiortcIncompatibleError, match="_send_keyframe"):
        aiortc_patch.check_hooks()
