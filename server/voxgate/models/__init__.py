"""Model sources: turn ``pkg:…``, ``hf:…`` and local paths into files on disk."""
