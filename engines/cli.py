"""`mer-build-engine MODEL.pt --out DIR`: a trained checkpoint -> a self-describing engine folder."""

from __future__ import annotations

from pathlib import Path

import typer

from engines.builder import BUILD_BACKENDS, PRECISIONS, build_engine
from engines.engine_spec import DEFAULT_MAX_BATCH
from realtime.core.console import console, setup_logging, user_errors

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    model: Path = typer.Argument(..., metavar="MODEL.pt", help="Checkpoint written by training (model.pt)."),
    out: Path = typer.Option(..., "--out", help="Engine folder to write (engine.json, model.onnx[, model.plan])."),
    backend: str = typer.Option(
        "auto", "--backend",
        help=f"One of {'|'.join(BUILD_BACKENDS)}. auto: TensorRT where it is installed and a CUDA GPU is "
             f"present, else ONNX. tensorrt also keeps the ONNX graph it was built from."),
    precision: str = typer.Option(
        "fp32", "--precision", help=f"One of {'|'.join(PRECISIONS)}; fp16 applies to TensorRT plans only."),
    max_batch: int = typer.Option(
        DEFAULT_MAX_BATCH, "--max-batch", min=1,
        help="Largest batch the engine is built and checked for; larger batches are split when run."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Export MODEL to ONNX (dynamic batch, probabilities out), check it, compare ONNX Runtime with
    PyTorch on real DIs at batch 1 and --max-batch (fails above 1e-4), and for TensorRT build a
    serialized plan for this GPU. Writes DIR/engine.json last."""
    setup_logging(verbose)
    with user_errors():
        spec = build_engine(model, out, backend=backend, precision=precision, max_batch=max_batch)
        parity = ", ".join(f"{runtime} batch {batch}: {diff:.1e}"
                           for runtime, by_batch in spec.parity.items() for batch, diff in by_batch.items())
        console.print(f"{spec.backend} engine ({spec.precision}) written to {out}: classes "
                      f"{', '.join(spec.classes)}; inputs {', '.join(spec.input_names)}; "
                      f"max |p - p_torch| {parity}", highlight=False, soft_wrap=True)
