"""The signed dealer top-up API (being written)."""
