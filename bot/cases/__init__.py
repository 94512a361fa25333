"""Hand-off state in SQL: the case store, advisers and feedback, the hand-off desk and watcher,
the events table and transcripts, and the client for Rasa's HTTP API they use."""
