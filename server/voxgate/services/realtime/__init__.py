"""Live audio over WebSocket: formats, voice activity, turn detection and the two protocols.

``audio`` converts the wire formats, ``vad`` finds where speech starts and stops, ``stt``
transcribes one utterance; ``live`` is the a15t live-transcription protocol and ``session``
the OpenAI Realtime API, both built on those three.
"""
