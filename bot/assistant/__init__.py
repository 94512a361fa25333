"""What the assistant understands, decides and says: the responder, knowledge base, retrieval,
embeddings, intent model, vocabulary, safeguarding, call-back rules and redaction. Plain Python:
no Rasa, Sanic or SQL, and nothing above it imported."""
