"""STT kind ``faster-whisper``: CTranslate2 Whisper through faster-whisper."""
