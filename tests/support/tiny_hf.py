"""Tiny random-weight transformers models saved as `hf` packages (no model hub here).

Each builder makes a model from a config with tiny sizes, seeds its weights, writes a
hand-made tokenizer vocabulary, and `save_pretrained`s model and processor into `folder`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import transformers

from vigil.engine._private.hashing import sha256_of

transformers.utils.logging.disable_progress_bar()

_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
WORDS = ("a", "the", "photo", "of", "person", "red", "car", "cup", "coffee", "man", "what", "is", "in", "image", "?")


def _byte_chars() -> list[str]:
    """GPT-2/CLIP's byte-to-unicode alphabet: every byte as one printable character."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = list(kept), 0
    for b in range(256):
        if b not in kept:
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def clip_tokenizer() -> Any:
    """A byte-level BPE tokenizer without merges: every character is a token. The special
    tokens come last, as in CLIP's vocabulary (OWL takes a query starting with id 0 for padding)."""
    vocab: dict[str, int] = {}
    for char in _byte_chars():
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return transformers.CLIPTokenizer(vocab=vocab, merges=[])


def bert_vocab_file(folder: Path) -> Path:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *WORDS, *letters]
    path = folder / "vocab_source.txt"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tokens) + "\n")
    return path


def _text_config(vocab_size: int) -> dict[str, Any]:
    bos, eos = vocab_size - 2, vocab_size - 1
    return dict(_TEXT, vocab_size=vocab_size, max_position_embeddings=32, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)


def _vision_config(image_size: int) -> dict[str, Any]:
    return dict(_TEXT, image_size=image_size, patch_size=8)


def build_clip(folder: Path, seed: int = 0) -> Path:
    tokenizer = clip_tokenizer()
    torch.manual_seed(seed)
    config = transformers.CLIPConfig(
        text_config=_text_config(len(tokenizer)), vision_config=_vision_config(32), projection_dim=16
    )
    model = transformers.CLIPModel(config).eval()
    image_processor = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    model.save_pretrained(folder)
    transformers.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def as_model_dir(
    hf_folder: Path, root: Path, architecture: str, task: str, package_id: str = "hf", batch: dict | None = None
) -> Path:
    """A vigil model directory with `hf_folder`'s files as package `package_id`."""
    package_dir = root / package_id
    package_dir.mkdir(parents=True)
    files = []
    for path in sorted(hf_folder.iterdir()):
        if path.is_file():
            (package_dir / path.name).write_bytes(path.read_bytes())
            files.append({"name": path.name, "sha256": sha256_of(path), "size": path.stat().st_size})
    model = {
        "model_id": root.name,
        "architecture": architecture,
        "task": task,
        "class_names": [],
        "input": {"size": [224, 224], "resize": "stretch"},
    }
    (root / "model.json").write_text(json.dumps(model))
    package = {"package_id": package_id, "backend": "hf", "batch": batch or {"min": 1, "max": 8}, "files": files}
    (package_dir / "package.json").write_text(json.dumps(package))
    return root


def build_owlv2(folder: Path, seed: int = 0) -> Path:
    tokenizer = clip_tokenizer()
    tokenizer.model_max_length = 16  # OWLv2 pads every prompt to this length
    torch.manual_seed(seed)
    config = transformers.Owlv2Config(
        # OWL's class head maps image tokens into the text width, so the projection matches it
        text_config=_text_config(len(tokenizer)),
        vision_config=_vision_config(32),
        projection_dim=32,
    )
    model = transformers.Owlv2ForObjectDetection(config).eval()
    image_processor = transformers.Owlv2ImageProcessor(size={"height": 32, "width": 32})
    model.save_pretrained(folder)
    transformers.Owlv2Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _scale_head(model: Any) -> None:
    """The default init makes a DPT head's depth ~1e-9; larger weights make a map of order 1."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(("neck", "head")) and param.dim() > 1:
                param.normal_(0.0, 0.15)


def build_dpt(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = transformers.DPTConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
    )
    model = transformers.DPTForDepthEstimation(config).eval()
    _scale_head(model)
    model.save_pretrained(folder)
    transformers.DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(folder)
    return folder


def build_blip(folder: Path, seed: int = 0, captioning: bool = False) -> Path:
    """BLIP visual question answering (or captioning) with a BERT tokenizer over a hand-written
    vocabulary."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = bert_vocab_file(folder.parent / f"{folder.name}-vocab")
    tokenizer = transformers.BertTokenizer(str(vocab_file), bos_token="[DEC]")
    vocab = tokenizer.get_vocab()
    torch.manual_seed(seed)
    text = dict(
        _TEXT,
        vocab_size=len(vocab),
        max_position_embeddings=32,
        encoder_hidden_size=32,
        bos_token_id=vocab["[DEC]"],
        sep_token_id=vocab["[SEP]"],
        pad_token_id=vocab["[PAD]"],
    )
    config = transformers.BlipConfig(
        text_config=text, vision_config=_vision_config(32), projection_dim=16, image_text_hidden_size=16
    )
    cls = transformers.BlipForConditionalGeneration if captioning else transformers.BlipForQuestionAnswering
    model = cls(config).eval()
    with torch.no_grad():  # random words rather than one token repeated: answers differ by image
        for name, param in model.named_parameters():
            if name.startswith(("text_decoder", "text_encoder", "vision_model")) and param.dim() > 1:
                param.normal_(0.0, 0.2)
    model.save_pretrained(folder)
    image_processor = transformers.BlipImageProcessor(size={"height": 32, "width": 32})
    transformers.BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_depth_anything(folder: Path, seed: int = 0) -> Path:
    """Depth Anything (a DINOv2 backbone, a DPT head) whose processor keeps the aspect ratio."""
    torch.manual_seed(seed)
    backbone = transformers.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=28,
        patch_size=14,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = transformers.DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        patch_size=14,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
    )
    model = transformers.DepthAnythingForDepthEstimation(config).eval()
    _scale_head(model)
    model.save_pretrained(folder)
    transformers.DPTImageProcessor(
        size={"height": 28, "width": 28}, keep_aspect_ratio=True, ensure_multiple_of=14
    ).save_pretrained(folder)
    return folder
