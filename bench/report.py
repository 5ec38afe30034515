"""Writes ``docs/benchmarks.md`` and its plots from ``bench/results/latest.json``.

    .venv/bin/python -m bench.report        # again, from the saved results

The tables, plots and target verdicts are generated; the discussion (what was profiled, what
was changed and why a target is missed) is ``bench/discussion.md``, included as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench" / "results" / "latest.json"
DISCUSSION = ROOT / "bench" / "discussion.md"
SYSTEMS = ("giaoban", "janus", "relay")
LABELS = {
    "giaoban": "giaoban (aiortc SFU)",
    "janus": "Janus VideoRoom",
    "relay": "aiortc MediaRelay (transcoding)",
}


def _fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    order = {s: i for i, s in enumerate(SYSTEMS)}
    return sorted(
        data["results"],
        key=lambda r: (r["layout"] != "all-to-all", r["halls"], order.get(r["system"], 9)),
    )


def _table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| system | scenario | SFU CPU (cores) | forwarded packets/s | CPU µs per forwarded "
        "packet | video frames delivered | audio packets delivered | added latency p50 / p95 "
        "/ p99 (ms) | join p50 / p95 (s) | memory per hall (MB) | load generator CPU (cores) "
        "| other processes (cores) | SFU socket drops |",
        "| --- | --- " + "| ---: " * 11 + "|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['system']} | {r['scenario']} | failed: {r['error'][:120]} " + "| " * 10 + "|"
            )
            continue
        if r.get("latency_measured"):
            latency = (
                f"{_fmt(r['latency_ms_p50'])} / {_fmt(r['latency_ms_p95'])} / "
                f"{_fmt(r['latency_ms_p99'])}"
            )
        elif r["system"] == "relay":
            latency = "not measurable (re-encoded)"
        else:
            latency = "no frame delivered"
        label = " (ramp)" if r.get("ramp") else ""
        if r.get("admission"):
            label += f" ({r.get('refused_halls', 0)} refused)"
        lines.append(
            f"| {r['system']} | {r['scenario']}{label} | {_fmt(r['cpu_cores'], 3)} | "
            f"{_fmt(r['forwarded_packets_per_second'], 0)} | "
            f"{_fmt(r['cpu_us_per_forwarded_packet'])} | {_pct(r['video_delivery'])} | "
            f"{_pct(r['audio_delivery'])} | {latency} | "
            f"{_fmt(r['join_seconds_p50'], 2)} / {_fmt(r['join_seconds_p95'], 2)} | "
            f"{_fmt(r['memory_per_hall_mb'], 2)} | {_fmt(r['loadgen_cpu_cores'], 2)} | "
            f"{_fmt(r.get('other_cpu_cores'), 2)} | {_fmt(r.get('system_socket_drops'), 0)} |"
        )
    return lines


def _find(data: dict[str, Any], system: str, scenario: str) -> dict[str, Any] | None:
    for r in data["results"]:
        if r["system"] == system and r["scenario"] == scenario and "error" not in r:
            return r
    return None


def _targets(data: dict[str, Any]) -> list[str]:
    out = ["| target | figures | verdict |", "| --- | --- | --- |"]

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("**met**" if ok else "**missed**")

    # 1. CPU per forwarded packet against the relay and Janus, scenario by scenario.
    pairs = []
    for r in data["results"]:
        if r["system"] != "giaoban" or "error" in r or r.get("ramp") or r.get("admission"):
            continue
        relay, janus = _find(data, "relay", r["scenario"]), _find(data, "janus", r["scenario"])
        ours = r.get("cpu_us_per_forwarded_packet")
        if not ours or (r.get("video_delivery") or 0) < 0.99:
            continue  # a collapsed run's CPU per packet compares nothing
        if janus and (janus.get("video_delivery") or 0) < 0.99:
            janus = None
        if relay and relay["cpu_us_per_forwarded_packet"]:
            pairs.append(("relay", r["scenario"], relay["cpu_us_per_forwarded_packet"] / ours))
        if janus and janus["cpu_us_per_forwarded_packet"]:
            pairs.append(("janus", r["scenario"], ours / janus["cpu_us_per_forwarded_packet"]))
    relay_pairs = [p for p in pairs if p[0] == "relay"]
    janus_pairs = [p for p in pairs if p[0] == "janus"]
    out.append(
        "| ≥ 10× less CPU per forwarded packet than the transcoding relay | "
        + (", ".join(f"{s}: {x:.1f}×" for _, s, x in relay_pairs) or "–")
        + f" | {verdict(all(x >= 10 for *_, x in relay_pairs) if relay_pairs else None)} |"
    )
    out.append(
        "| ≤ 2× Janus's CPU per forwarded packet (where both deliver ≥ 99 %) | giaoban ÷ Janus: "
        + (", ".join(f"{s}: {x:.2f}×" for _, s, x in janus_pairs) or "–")
        + f" | {verdict(all(x <= 2 for *_, x in janus_pairs) if janus_pairs else None)} |"
    )
    a2a = _find(data, "giaoban", "all-to-all-10")
    out.append(
        "| 10-hall all-to-all under ¼ core, ≥ 99 % of frames | "
        + (f"{a2a['cpu_cores']:.3f} cores, {_pct(a2a['video_delivery'])}" if a2a else "–")
        + " | "
        + verdict(
            None if a2a is None else a2a["cpu_cores"] < 0.25 and a2a["video_delivery"] >= 0.99
        )
        + " |"
    )
    big = _find(data, "giaoban", "speaker-150")
    out.append(
        "| 150 halls, speaker layout: ≥ 99 % of frames, p95 added latency < 150 ms | "
        + (
            f"{_pct(big['video_delivery']) if big['video_delivery'] is not None else 'no frame'}"
            f" delivered, p95 {_fmt(big['latency_ms_p95'])} ms, "
            f"SFU {big['cpu_cores']:.2f} cores, load generator {big['loadgen_cpu_cores']:.2f} cores"
            if big
            else "–"
        )
        + " | "
        + verdict(None if big is None else bool(big.get("passes")))
        + " |"
    )
    join = _find(data, "giaoban", "speaker-30")
    out.append(
        "| join time p50 < 1 s with 30 halls joining at once | "
        + (
            f"p50 {join['join_seconds_p50']:.2f} s, p95 {join['join_seconds_p95']:.2f} s"
            if join and join["join_seconds_p50"] is not None
            else "–"
        )
        + " | "
        + verdict(
            None if not join or join["join_seconds_p50"] is None else join["join_seconds_p50"] < 1.0
        )
        + " |"
    )
    ramp = data.get("ramp")
    if ramp:
        out.append(
            f"| ramp: largest speaker meeting at ≥ 99 % and p95 < 150 ms | passes at "
            f"{ramp['largest_passing']} halls, "
            + (
                f"fails at {ramp['smallest_failing']}"
                if ramp["smallest_failing"]
                else "the largest size tried"
            )
            + " | (finding) |"
        )
    return out


def plots(data: dict[str, Any], directory: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    rows = [r for r in data["results"] if "error" not in r and not r.get("admission")]
    colours = {"giaoban": "tab:blue", "janus": "tab:green", "relay": "tab:red"}

    # 1. CPU per forwarded packet, per scenario and system (log scale).
    scenarios = sorted(
        {r["scenario"] for r in rows if not r.get("ramp")},
        key=lambda s: (not s.startswith("all"), int(s.rsplit("-", 1)[1])),
    )
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.27
    for k, system in enumerate(SYSTEMS):
        xs, ys = [], []
        for i, scenario in enumerate(scenarios):
            r = _find(data, system, scenario)
            if r and (r.get("cpu_us_per_forwarded_packet") or 0) > 0:
                xs.append(i + (k - 1) * width)
                ys.append(r["cpu_us_per_forwarded_packet"])
        ax.bar(xs, ys, width, label=LABELS[system], color=colours[system])
        for x, y in zip(xs, ys, strict=True):
            ax.text(x, y * 1.08, f"{y:.0f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("SFU CPU µs per forwarded packet")
    ax.set_title("CPU per forwarded packet (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    name = "benchmarks-cpu-per-packet.png"
    fig.savefig(directory / name, dpi=110)
    plt.close(fig)
    made.append(name)

    # 2. Speaker layout against meeting size: CPU, delivery, p95 latency.
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for system in SYSTEMS:
        pts = sorted(
            (
                r
                for r in rows
                if r["system"] == system
                and r["layout"] == "speaker"
                and r.get("cpu_cores") is not None
            ),
            key=lambda r: r["halls"],
        )
        if not pts:
            continue
        halls = [r["halls"] for r in pts]
        kw = {"marker": "o", "label": LABELS[system], "color": colours[system]}
        axes[0].plot(halls, [r["cpu_cores"] for r in pts], **kw)
        axes[1].plot(halls, [100 * (r["video_delivery"] or 0) for r in pts], **kw)
        lat = [(r["halls"], r["latency_ms_p95"]) for r in pts if (r.get("latency_ms_p95") or 0) > 0]
        if lat:
            axes[2].plot([x for x, _ in lat], [y for _, y in lat], **kw)
    axes[0].set_ylabel("SFU CPU (cores)")
    axes[0].axhline(2, color="grey", lw=0.8, ls=":")
    axes[1].set_ylabel("video frames delivered (%)")
    axes[1].axhline(99, color="grey", lw=0.8, ls="--")
    axes[2].set_ylabel("p95 added latency (ms)")
    axes[2].axhline(150, color="grey", lw=0.8, ls="--")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("halls in the meeting (speaker layout)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    name = "benchmarks-speaker.png"
    fig.savefig(directory / name, dpi=110)
    plt.close(fig)
    made.append(name)
    return made


AB_RESULTS = ROOT / "bench" / "results" / "media-ab.json"


def _media_ab() -> list[str]:
    """The before/after table of the media/ fixes (``bash bench/run.sh --media-ab``)."""
    if not AB_RESULTS.exists():
        return []
    rows = [
        r for r in json.loads(AB_RESULTS.read_text(encoding="utf-8"))["rows"] if "error" not in r
    ]
    if not rows:
        return []
    out = [
        "## The fixes in media/, before and after",
        "",
        "`bash bench/run.sh --media-ab`: the same scenarios, alternately with the forwarding "
        "path as it was before this benchmark (aiortc's send and receive loops, its bandwidth "
        'estimator, a REMB per packet under "overuse", a frame released when the next one '
        "starts; `BENCH_MEDIA_BASELINE`) and as it is; each line is the median of the rounds "
        "(`bench/results/media-ab.json`).",
        "",
        "| scenario | variant | rounds | SFU CPU (cores) | CPU µs per forwarded packet | "
        "video delivered | added latency p50 / p95 (ms) | other processes (cores) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    import statistics

    scenarios = sorted(
        {r["scenario"] for r in rows},
        key=lambda x: (not x.startswith("all"), int(x.rsplit("-", 1)[1])),
    )
    for scenario in scenarios:
        for variant in ("before", "after"):
            chosen = [r for r in rows if r["scenario"] == scenario and r["variant"] == variant]
            if not chosen:
                continue

            def med(key: str, chosen: list[dict[str, Any]] = chosen) -> float | None:
                values = [r[key] for r in chosen if r.get(key) is not None]
                return statistics.median(values) if values else None

            out.append(
                f"| {scenario} | {variant} | {len(chosen)} | {_fmt(med('cpu_cores'), 3)} | "
                f"{_fmt(med('cpu_us_per_forwarded_packet'))} | {_pct(med('video_delivery'))} | "
                f"{_fmt(med('latency_ms_p50'))} / {_fmt(med('latency_ms_p95'))} | "
                f"{_fmt(med('other_cpu_cores'), 2)} |"
            )
    return [*out, ""]


def render(data: dict[str, Any], images: list[str]) -> str:
    m, v = data["machine"], data["versions"]
    lines = [
        "# Benchmarks: forwarding against a transcoding relay and Janus",
        "",
        "Generated by `bench/report.py` from `bench/results/latest.json` (one object per system "
        "and scenario); the discussion at the end is `bench/discussion.md`.",
        "",
        "## How to reproduce",
        "",
        "```sh",
        "make bench                 # = bash bench/run.sh: every system and scenario, 15-30 min",
        "bash bench/run.sh --systems giaoban --scenarios speaker-10 --seconds 10   # one, quickly",
        "bash bench/run.sh --systems janus --scenarios all-to-all-10 --keep    # add to results",
        "bash bench/run.sh --systems giaoban --scenarios speaker-200+cap150 --keep  # admission",
        ".venv/bin/python -m bench.report                                     # rewrite this page",
        "git worktree add /tmp/before <commit>   # a change's before/after, alternately:",
        "bash bench/run.sh --media-ab --ab-tree /tmp/before --scenarios speaker-30 --ab-rounds 3",
        "bash bench/run.sh --loop-ab --ab-tree /tmp/before --scenarios speaker-30  # and Janus",
        "bash bench/run.sh --loop-ab --load-ab --scenarios speaker-10  # muted halls: full, DTX",
        "```",
        "",
        "These figures: "
        + "; then ".join(f"`{c['command']}` ({c['date']})" for c in data.get("commands", []))
        + ".",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Linux {m['kernel']} "
        "(a VM; the load generator runs on the same two cores as the system under test, at "
        "nice 19 unless `--loadgen-nice` says otherwise).",
        f"- Versions: Python {v['python']}, aiortc {v['aiortc']}, aioice {v['aioice']}, "
        f"PyAV {v['pyav']}, Janus {v.get('janus') or 'not installed'} (Debian package).",
        *(
            [
                "- Load: the rows measured before 2026-12-07 afternoon had every hall send 50 "
                "audio packets a second, muted or not (`--muted-audio full`); muted halls now "
                'send a DTX frame every 200 ms, as terminals do (see "Opus DTX" below).'
            ]
            if any("muted_audio" not in r for r in data.get("results", []))
            else []
        ),
        "",
        "## Tables",
        "",
    ]
    rows = _rows(data)
    for layout, title in (
        ("all-to-all", "All-to-all (every hall receives every hall's video)"),
        ("speaker", "Speaker layout (chair + floor video to all, audio of the unmuted halls)"),
    ):
        chosen = [r for r in rows if r["layout"] == layout]
        if chosen:
            lines += [f"### {title}", "", *_table(chosen), ""]
    lines += ["## Targets", "", *_targets(data), ""]
    lines += _media_ab()
    lines += ["## Plots", ""]
    lines += [f"![{name}]({name})" for name in images]
    lines += [""]
    if DISCUSSION.exists():
        lines += [DISCUSSION.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines)


def write(data: dict[str, Any]) -> None:
    images = plots(data, DOC.parent)
    DOC.write_text(render(data, images), encoding="utf-8")


def main() -> None:
    write(json.loads(RESULTS.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
