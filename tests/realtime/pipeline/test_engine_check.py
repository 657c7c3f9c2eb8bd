"""An engine trained on other crops or DIs than the pipeline makes is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from realtime.cli.common import load_engine
from realtime.cli.process import app
from realtime.core.errors import EngineError
from realtime.face.aligner import AlignConfig
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline

GOLDEN_VIDEO = Path(__file__).parents[2] / "golden" / "interview.mp4"


def test_the_pipeline_refuses_an_engine_of_other_crops(tiny_checkpoint: Path) -> None:
    engine, _ = load_engine(tiny_checkpoint, 1)  # trained at AlignConfig(): 224 px grey crops
    with engine:
        RecognitionPipeline(PipelineConfig(), engine=engine).close()  # the same settings: accepted
        with pytest.raises(EngineError, match=r"size 224 \(pipeline: 160\)"):
            RecognitionPipeline(PipelineConfig(align=AlignConfig(size=160)), engine=engine)
        with pytest.raises(EngineError, match=r"grey True \(pipeline: False\)"):
            RecognitionPipeline(PipelineConfig(align=AlignConfig(grey=False)), engine=engine)
        engine.alignment = {}  # a checkpoint that did not record its alignment: its input shape still says
        with pytest.raises(EngineError, match=r"1-channel inputs \(di_onset, di_offset\), the pipeline makes 3-channel"):
            RecognitionPipeline(PipelineConfig(align=AlignConfig(grey=False)), engine=engine)
        with pytest.raises(EngineError, match="64 px DIs, larger than the pipeline's 32 px"):
            RecognitionPipeline(PipelineConfig(align=AlignConfig(size=32, stabilise_size=32)), engine=engine)


def test_mer_process_says_so_in_one_line(tiny_checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    import realtime.cli.process as process

    monkeypatch.setattr(process, "AlignConfig", lambda **kw: AlignConfig(size=160, **kw))  # a pipeline of 160 px crops
    result = CliRunner().invoke(app, [str(GOLDEN_VIDEO), "--out", str(tmp_path), "--engine", str(tiny_checkpoint)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and "trained with other alignment settings" in lines[-1]
    assert "Traceback" not in result.output and not (tmp_path / "interview").exists()


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b"PK\x03\x04" + b"\0" * 200])
def test_a_garbage_engine_file_is_one_line_of_ours(content: bytes, tmp_path: Path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(content)
    result = CliRunner().invoke(app, [str(GOLDEN_VIDEO), "--out", str(tmp_path / "out"), "--engine", str(bad)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "model.pt: " in text and "weights_only" not in text and "torch.load(" not in text
    assert text.endswith("model.pt: not a readable checkpoint, truncated or corrupt")
