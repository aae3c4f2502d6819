from pathlib import Path

from openai import OpenAI

client = OpenAI()  # the server's address and key come from OPENAI_BASE_URL and OPENAI_API_KEY
transcript = client.audio.transcriptions.create(model="keypad", file=Path("digits.wav"))
print(transcript.text)
