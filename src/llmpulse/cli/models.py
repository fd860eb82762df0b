"""Command ``llmpulse models``: model files for the quality scorers.

Heavy modules (PyTorch, transformers, ONNX Runtime) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def models() -> None:
    """Model files for the quality scorers."""


@models.command("export-toxicity")
@click.argument("checkpoint")
@click.option("-o", "--out-dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write model.onnx, tokenizer.json and llmpulse-model.json to.")
@click.option("--hf-config", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with the base model's config.json and tokenizer files "
                   "(needed offline for a local checkpoint).")
@click.option("--opset", type=click.IntRange(min=14), default=17, show_default=True,
              help="ONNX opset version.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-3, show_default=True,
              help="Largest allowed difference between ONNX and PyTorch probabilities.")
def export_toxicity_command(checkpoint: str, out_dir: Path, hf_config: Path | None,
                            opset: int, tolerance: float) -> None:
    """Export a Detoxify CHECKPOINT (a model name or a .ckpt file) to ONNX and check it.

    Model names (original, unbiased, multilingual, original-small, unbiased-small) are
    downloaded, so they need network access.
    """
    from llmpulse.models.export import export_toxicity

    report = export_toxicity(checkpoint, out_dir, hf_config_dir=hf_config, opset=opset,
                             tolerance=tolerance)
    click.echo(f"wrote      {report.out_dir}")
    click.echo(f"labels     {', '.join(report.labels)}")
    click.echo(f"providers  {', '.join(report.providers)}")
    click.echo(f"max diff   {report.max_abs_diff:.2e} (tolerance {tolerance:.0e})")
    click.echo(f"time       {report.seconds:.1f} s")
