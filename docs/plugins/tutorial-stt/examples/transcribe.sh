curl -sS --fail-with-body "$OPENAI_BASE_URL/audio/transcriptions" \
  -F model=keypad -F file=@digits.wav -F response_format=srt
