"""Hugging Face families (backend `hf`), one module each; imported only when chosen."""
