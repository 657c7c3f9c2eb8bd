"""A synthetic long-video release in the CAS(ME)^2 or SAMM Long Videos layout, with its coding sheet(s).

Each video is a `make_video` interview, decoded and written as the release's frames, and its
micro- and macro-expressions become sheet rows laid out as the real sheets are (CAS(ME)^2: no
header, naming tabs; SAMM: header under a legend, emotions in the separate micro sheet), frame
numbers counted from 1 as img1.jpg. Blinks are not coded, as in the real sheets. So `mer-eval`
runs end to end on data the tests make.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
from openpyxl import Workbook

from realtime.capture.sources import CASME2_LONG_FPS, SAMM_LONG_FPS
from realtime.capture.video_io import read_video
from realtime.core.errors import InputError
from training.datasets.long_videos import megc_class
from training.synth.video import SynthEvent, make_video

LAYOUTS = ("casme2-long", "samm-long")
LAYOUT_FPS = {"casme2-long": CASME2_LONG_FPS, "samm-long": SAMM_LONG_FPS}
# CAS(ME)^2's video codes, names in its sheet, and the words of its release folders
CASME2_VIDEOS = (("0101", "disgust1", "disgustingteeth"), ("0102", "disgust2", "eatingworms"),
                 ("0401", "anger1", "girlcrashing"), ("0402", "anger2", "beatingpregnantwoman"),
                 ("0502", "happy1", "funnyerrors"), ("0503", "happy2", "funnyfarting"),
                 ("0505", "happy3", "funnyinnovations"), ("0507", "happy4", "climbingthewall"),
                 ("0508", "happy5", "funnydunkey"))
CASME2_FIRST_FOLDER = 15  # the release's first subject folder is s15 (sheet subject 1)
SAMM_FIRST_SUBJECT = 6  # the release's first subject is 006
JPEG_QUALITY = 90
SAMM_LEGEND = ("SAMM Long Videos Dataset - FACS Codes (synthetic)", None, "Symbol Key:", '"/" = or', None,
               "AU Help:", None, None, None)  # 9 legend rows: the header is on row 10
SAMM_MICRO_LEGEND = ("SAMM Dataset - Master FACS Codes (synthetic)",) + (None,) * 12  # header on row 14


@dataclass(frozen=True)
class SynthRelease:
    """What `make_long_release` wrote."""

    root: Path
    sheet: Path
    videos: tuple[Path, ...]  # frame folders
    micro: int  # micro-expressions coded
    macro: int


def make_long_release(out: Path, *, layout: str, subjects: int = 4, videos_per_subject: int = 2,
                      micro: Sequence[int] = (2, 0), duration: float | None = None, size: tuple[int, int] = (320, 240),
                      faces: Path | None = None, seed: int = 0) -> SynthRelease:
    """Write the release under `out`; video k of each subject has `micro[k % len(micro)]` micro-expressions."""
    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    if layout == "casme2-long" and videos_per_subject > len(CASME2_VIDEOS):
        raise InputError(f"CAS(ME)^2 has {len(CASME2_VIDEOS)} videos per subject, not {videos_per_subject}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: not empty; give a new or empty folder")
    fps = LAYOUT_FPS[layout]
    folders: list[Path] = []
    coded: list[tuple[int, int, SynthEvent]] = []  # (subject index, video index, event)
    with tempfile.TemporaryDirectory() as scratch:
        for s in range(subjects):
            for k in range(videos_per_subject):
                video = make_video(Path(scratch) / f"s{s}_{k}.mp4", fps=fps, duration=duration,
                                   micro=micro[k % len(micro)], faces=faces, seed=seed + 1000 * k + s, size=size)
                folder = _folder(out, layout, s, k)
                _write_frames(video.path, folder, layout)
                folders.append(folder)
                coded.extend((s, k, event) for event in video.events if event.kind in ("micro", "macro"))
    sheet = (_casme2_sheets if layout == "casme2-long" else _samm_sheets)(out, subjects, coded)
    return SynthRelease(root=out, sheet=sheet, videos=tuple(folders),
                        micro=sum(1 for *_, e in coded if e.kind == "micro"),
                        macro=sum(1 for *_, e in coded if e.kind == "macro"))


def _folder(out: Path, layout: str, s: int, k: int) -> Path:
    if layout == "casme2-long":
        number = CASME2_FIRST_FOLDER + s
        code, _, words = CASME2_VIDEOS[k]
        return out / "rawpic" / f"s{number}" / f"{number}_{code}{words}"
    return out / "SAMM_longvideos" / f"{SAMM_FIRST_SUBJECT + s:03d}_{k + 1}"


def _write_frames(video: Path, folder: Path, layout: str) -> None:
    """The release's frame files, numbered from 1 (img1.jpg; 006_1_00001.jpg)."""
    folder.mkdir(parents=True)
    for frame in read_video(video):
        name = f"img{frame.index + 1}.jpg" if layout == "casme2-long" else f"{folder.name}_{frame.index + 1:05d}.jpg"
        cv2.imwrite(str(folder / name), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def _aus(action_units: str) -> int | str:
    """A single AU is a number in the real sheets' cells ('12' -> 12); combinations are text."""
    return int(action_units) if action_units.isdigit() else action_units


def _casme2_sheets(out: Path, subjects: int, coded: list[tuple[int, int, SynthEvent]]) -> Path:
    book = Workbook()
    rows = book.active
    rows.title = "CASFEcode_final"
    counts: dict[tuple[int, int], int] = {}
    for s, k, event in sorted(coded, key=lambda item: (item[0], item[1], item[2].frames.onset)):
        counts[(s, k)] = counts.get((s, k), 0) + 1
        name = CASME2_VIDEOS[k][1]
        sheet = event.frames.shifted(1)  # the sheets number frames from 1
        rows.append([s + 1, f"{name}_{counts[(s, k)]}", sheet.onset, sheet.apex, sheet.offset,
                     _aus(event.action_units), megc_class(event.emotion), f"{event.kind}-expression", event.emotion])
    rule1 = book.create_sheet("naming rule1")
    for s in range(subjects):
        rule1.append([CASME2_FIRST_FOLDER + s, f"s{CASME2_FIRST_FOLDER + s}", s + 1])
    rule2 = book.create_sheet("naming rule2")
    for code, name, _ in CASME2_VIDEOS:
        rule2.append([code, name])
    path = out / "CAS(ME)2_code_final.xlsx"
    book.save(path)
    return path


def _samm_sheets(out: Path, subjects: int, coded: list[tuple[int, int, SynthEvent]]) -> Path:
    long_book, micro_book = Workbook(), Workbook()
    long_rows, micro_rows = long_book.active, micro_book.active
    long_rows.title, micro_rows.title = "FACS_Movement_Only", "MICRO_ONLY"
    for line in SAMM_LEGEND:
        long_rows.append([line])
    for line in SAMM_MICRO_LEGEND:
        micro_rows.append([line])
    long_rows.append(["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
                      "Action Units", "Notes"])
    micro_rows.append(["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
                       "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"])
    counts: dict[tuple[int, int], int] = {}
    for s, k, event in sorted(coded, key=lambda item: (item[0], item[1], item[2].frames.onset)):
        counts[(s, k)] = counts.get((s, k), 0) + 1
        subject = f"{SAMM_FIRST_SUBJECT + s:03d}"
        clip = f"{subject}_{k + 1}_{counts[(s, k)]}"
        sheet = event.frames.shifted(1)
        frames = [sheet.onset, sheet.apex, sheet.offset]
        kind = "Micro - 1/2" if event.kind == "micro" else "Macro"
        long_rows.append([subject, clip, k + 1, *frames, sheet.length, kind, _aus(event.action_units), None])
        if event.kind == "micro":
            emotion = "Other" if event.emotion == "others" else event.emotion.capitalize()
            micro_rows.append([subject, clip, k + 1, *frames, sheet.length, kind,
                               _aus(event.action_units), emotion, None, None])
    path = out / "SAMM_LongVideos_V2_Release.xlsx"
    long_book.save(path)
    micro_book.save(out / "SAMM_Micro_FACS_Codes_v2.xlsx")
    return path
