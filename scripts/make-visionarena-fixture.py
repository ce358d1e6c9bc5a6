"""Writes the Hugging Face cache fixture of inference-perf's default VisionArena dataset
(tests/data/inference-perf/hf-cache/datasets--lmarena-ai--VisionArena-Chat/, its one data file
data/train-00000-of-00001.parquet): a few rows in the schema of the
lmarena-ai/VisionArena-Chat dataset (`conversation` as a list of one-message lists of
{role, content}, `images` as Hugging Face's undecoded Image feature {bytes, path}), with the
rows a reader must skip: no user prompt, no image, a GIF, bytes that are not an image.

Run with pyarrow and Pillow installed: python3 scripts/make-visionarena-fixture.py
"""

import io
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def encoded(fmt: str, w: int, h: int, colour: tuple) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format=fmt)
    return buf.getvalue()


def row(rid: str, turns: list, images: list) -> dict:
    return {
        "conversation_id": rid,
        "conversation": [[{"role": r, "content": c}] for (r, c) in turns],
        "images": [{"bytes": b, "path": None} for b in images],
        "num_turns": len([t for t in turns if t[0] == "user"]),
    }


ROWS = [
    row("r0", [("user", "describe the picture"), ("assistant", "a red square")],
        [encoded("PNG", 16, 8, (200, 30, 30))]),
    row("r1", [("user", "what is this"), ("assistant", "blue")],
        [encoded("JPEG", 24, 12, (30, 30, 200))]),
    row("r2-no-user-turn", [("assistant", "hello")], [encoded("PNG", 4, 4, (1, 1, 1))]),
    row("r3-gif", [("user", "a gif")], [encoded("GIF", 10, 10, (1, 2, 3))]),
    row("r4", [("user", "webp then png")],
        [encoded("WEBP", 10, 6, (30, 200, 30)), encoded("PNG", 4, 4, (9, 9, 9))]),
    row("r5-no-image", [("user", "no image here")], []),
    row("r6-not-an-image", [("user", "broken")], [b"\x89PNG\r\n\x1a\nnot really"]),
    row("r7", [("user", "  "), ("user", "the second user turn")],
        [encoded("PNG", 8, 8, (5, 6, 7)), encoded("JPEG", 6, 6, (7, 6, 5))]),
]

SCHEMA = pa.schema([
    ("conversation_id", pa.string()),
    ("conversation", pa.list_(pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])))),
    ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
    ("num_turns", pa.int64()),
])

SNAPSHOT = "5151a0a1e1a5151a0a1e1a5151a0a1e1a5151a0a"
repo = pathlib.Path(__file__).resolve().parent.parent / "tests/data/inference-perf/hf-cache/datasets--lmarena-ai--VisionArena-Chat"
(repo / "refs").mkdir(parents=True, exist_ok=True)
(repo / "refs/main").write_text(SNAPSHOT)
out = repo / "snapshots" / SNAPSHOT / "data/train-00000-of-00001.parquet"
out.parent.mkdir(parents=True, exist_ok=True)
pq.write_table(pa.Table.from_pylist(ROWS, schema=SCHEMA), out)
print(out, out.stat().st_size)
