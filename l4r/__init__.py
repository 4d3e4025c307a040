"""l4r: the Llama4Rec method (Luo et al. 2024) as composable JSONL stages."""
__version__ = "0.1.0"
