from openai import OpenAI

client = OpenAI()  # the server's address and key come from OPENAI_BASE_URL and OPENAI_API_KEY
speech = client.audio.speech.create(model="tts-1", voice="high", input="Hello from voxgate")
speech.write_to_file("hello.mp3")
