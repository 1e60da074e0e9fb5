"""`vigil models ...`: look at model packages and the resolver's decisions."""

from __future__ import annotations

import argparse
import sys

from vigil.engine._private.environment import current_environment
from vigil.engine._private.loader import list_model, resolve_listing
from vigil.engine._private.resolver import ResolutionRequest
from vigil.engine.enums import BackendType, Quantization
from vigil.errors import ConfigError


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    models = sub.add_parser("models", help="inspect model packages")
    actions = models.add_subparsers(dest="models_command", required=True)
    resolve = actions.add_parser("resolve", help="show which package would run here, and why the others would not")
    resolve.add_argument("ref", help="model directory, .onnx file or PROVIDER:MODEL_ID")
    resolve.add_argument("--backend", action="append", choices=[b.value for b in BackendType],
                         help="allowed backend, in preference order; repeat for several")
    resolve.add_argument("--batch", help="preferred batch size N, or a range MIN,MAX the pipeline can use")
    resolve.add_argument("--quantization", action="append", choices=[q.value for q in Quantization])
    resolve.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    resolve.add_argument("--package", help="only this package id")
    resolve.add_argument("--allow-untrusted", action="store_true", help="accept packages that carry executable code")


def _request(args: argparse.Namespace) -> ResolutionRequest:
    batch_size, batch_range = None, None
    if args.batch:
        try:
            parts = [int(x) for x in args.batch.split(",")]
        except ValueError:
            raise ConfigError(f"--batch {args.batch!r}: expected N or MIN,MAX") from None
        if len(parts) == 1:
            batch_size = parts[0]
        elif len(parts) == 2 and 1 <= parts[0] <= parts[1]:
            batch_range = (parts[0], parts[1])
        else:
            raise ConfigError(f"--batch {args.batch!r}: expected N or MIN,MAX with MIN <= MAX")
    return ResolutionRequest(
        backends=tuple(BackendType(b) for b in args.backend) if args.backend else None,
        batch_size=batch_size,
        batch_range=batch_range,
        quantizations=tuple(Quantization(q) for q in args.quantization) if args.quantization else None,
        device=args.device,
        package_id=args.package,
        allow_untrusted=args.allow_untrusted,
    )


def run(args: argparse.Namespace) -> int:
    """Print the resolution table; exit 0 when some package can run, 1 when none can."""
    name, listing = list_model(args.ref)
    resolution = resolve_listing(listing, _request(args), current_environment())
    packages = {p.package_id: p for p in listing.packages}
    rows = [("PACKAGE", "BACKEND", "QUANT", "BATCH", "DECISION")]
    for candidate in resolution.candidates:
        p = candidate.package
        rows.append((p.package_id, p.backend.value, p.quantization.value, p.batch.describe(), f"rank {candidate.rank}"))
    for refused in resolution.refused:
        p = packages[refused.package_id]
        rows.append((p.package_id, p.backend.value, p.quantization.value, p.batch.describe(), "refused: " + "; ".join(refused.reasons)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out = sys.stdout
    out.write(f"model {listing.model.model_id} ({listing.model.architecture}, {listing.model.task}) from {name}\n")
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] + "\n")
    return 0 if resolution.candidates else 1
