"""Engine contracts, audio buffers and the pool that runs engines off the event loop."""
