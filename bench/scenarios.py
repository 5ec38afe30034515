"""What each hall publishes and receives in each scenario, and what it should get."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CHAIR = 0
"The chair hall's index."
FLOOR = 1
"The hall that holds the floor in the speaker layout."
AUDIO_SLOTS = 3
"Audio slots each giaoban hall offers in the speaker layout (two halls are audible)."


ADMISSION = {
    "cap": "GIAOBAN_MAX_PARTICIPANTS",
    "lag": "GIAOBAN_ADMISSION_MAX_LAG_MS",
    "cpu": "GIAOBAN_ADMISSION_MAX_CPU_PERCENT",
    "w": "GIAOBAN_MEDIA_WORKERS",
    "d": "",
}
"""Settings a giaoban scenario may carry: admission control (``speaker-200+cap150``,
``+lag50``, ``+cpu85``), media workers (``speaker-300+w2``: two worker processes), or a
district (``speaker-100+d50``: the last 50 halls are communes of a district whose media node
runs in a network namespace of its own, linked to the province node's one worker)."""
DISTRICT = "D"
"The unit code of a ``+dK`` scenario's district."
DISTRICT_NODE = ("10.77.0.2", 7700)
"Where the district's media node listens (its namespace's end of the link)."
PROVINCE_ADDRESS = "10.77.0.1"
"The province node's end of that link (its workers' cascade listeners)."


@dataclass(frozen=True)
class Scenario:
    layout: str
    "``all-to-all`` or ``speaker``."
    halls: int
    admission: str = ""
    """giaoban's admission control: ``capN`` (participants), ``lagN`` (ms) or ``cpuN`` (%);
    ``wN``: N media worker processes; ``dN``: N halls on a district's media node."""

    @property
    def name(self) -> str:
        return f"{self.layout}-{self.halls}" + (f"+{self.admission}" if self.admission else "")

    @classmethod
    def parse(cls, text: str) -> Scenario:
        match = re.fullmatch(r"(all-to-all|speaker)-(\d+)(?:\+((?:cap|lag|cpu|w|d)\d+))?", text)
        if not match:
            raise ValueError(
                f"unknown scenario {text!r}: all-to-all-N or speaker-N, "
                "optionally +capN, +lagN or +cpuN (giaoban's admission control), +wN "
                "(giaoban's media workers) or +dN (N halls on a district's media node)"
            )
        return cls(match[1], int(match[2]), match[3] or "")

    def server_env(self) -> dict[str, str]:
        """The giaoban server's settings for this scenario's admission control."""
        if not self.admission:
            return {}
        name = self.admission.rstrip("0123456789")
        value = self.admission[len(name) :]
        if name == "d":
            host, port = DISTRICT_NODE
            return {
                "GIAOBAN_MEDIA_WORKERS": "1",
                "GIAOBAN_MEDIA_NODES": f"{DISTRICT}={host}:{port}",
                "GIAOBAN_MEDIA_SECRET": "bench-district-secret",
                "GIAOBAN_MEDIA_RELAY_HOST": PROVINCE_ADDRESS,
            }
        env = {ADMISSION[name]: value}
        if name == "w":
            # The meeting (its halls and the chair's console) split evenly over the workers.
            env["GIAOBAN_MEDIA_WORKER_CAPACITY"] = str(-(-(self.halls + 1) // max(1, int(value))))
        return env

    @property
    def district_halls(self) -> int:
        """How many halls (the last ones) are communes of the district (``+dN``)."""
        if not self.admission.startswith("d"):
            return 0
        return min(int(self.admission[1:]), self.halls - 2)  # chair and floor: the province's

    def plans(self, system: str) -> list[dict[str, Any]]:
        """One plan per hall: its sources, its slots (``from``: the hall the slot carries,
        for the systems where the client chooses) and the streams it expects."""
        return [self._plan(i, system) for i in range(self.halls)]

    def _plan(self, i: int, system: str) -> dict[str, Any]:
        n = self.halls
        slots: list[dict[str, Any]] = []
        if self.layout == "all-to-all":
            # Every hall receives every other hall's 640x360 video (published as the
            # "thumb" track in giaoban, whose thumb slots carry every connected hall) and the
            # chair hall's audio (the others are muted).
            video_from = [h for h in range(n) if h != i]
            audio_from = [CHAIR] if i != CHAIR else []
            source = "thumb"
            slots = [{"kind": "video", "role": "thumb", "from": h} for h in video_from]
            audio_slots = 2 if system == "giaoban" else len(audio_from)
        else:
            # rooms.slots: one main screen for every hall, the floor holder included (it sees
            # itself as the others do); the chair hall's camera on the chair slot of the others.
            main = FLOOR
            video_from = [main] if i == CHAIR else [main, CHAIR]
            audio_from = [h for h in (CHAIR, FLOOR) if h != i]
            source = "camera"
            slots = [{"kind": "video", "role": "main", "from": main}]
            if system == "giaoban" or i != CHAIR:
                slots.append({"kind": "video", "role": "chair", "from": CHAIR})
            audio_slots = AUDIO_SLOTS if system == "giaoban" else len(audio_from)
        for k in range(audio_slots):
            slots.append(
                {
                    "kind": "audio",
                    "role": "audio",
                    "from": audio_from[k] if k < len(audio_from) else None,
                }
            )
        if system != "giaoban":
            slots = [s for s in slots if s["from"] is not None]
        if system == "janus":
            # A Janus subscription takes each feed's stream once.
            unique: dict[tuple[str, int], dict[str, Any]] = {}
            for slot in slots:
                unique.setdefault((slot["kind"], slot["from"]), slot)
            slots = list(unique.values())
            video_from = [s["from"] for s in slots if s["kind"] == "video"]
        return {
            "index": i,
            "heard": i == CHAIR or (self.layout == "speaker" and i == FLOOR),
            "video_source": source,
            "slots": slots,
            "expect_video": video_from,
            "expect_audio": audio_from,
        }
