"""Transcoder kind ``pyav``: decode any upload by sniffing its bytes, stream-encode responses."""
