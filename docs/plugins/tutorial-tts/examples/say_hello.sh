curl -sS --fail-with-body "$OPENAI_BASE_URL/audio/speech" \
  -H "Content-Type: application/json" \
  -d '{"model": "tts-1", "voice": "low", "input": "Hello from voxgate", "response_format": "wav"}' \
  -o hello.wav
