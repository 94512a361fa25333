"""The adviser side: the adviser API (JWT-authenticated) and the console (templates and static
files with it)."""
